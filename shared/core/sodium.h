#pragma once

namespace flashsale {

// libsodium asks for sodium_init() once before any other call; these run it on first use (it is
// idempotent and thread-safe). Every user of libsodium in the library starts it through here.

// Whether libsodium started (it cannot without an entropy source): for callers that can report
// the failure as an error.
bool sodiumReady();

// For callers that cannot go on without it (random ids, hashes): stops the process, naming
// `forWhat`, when libsodium cannot start.
void requireSodium(const char *forWhat);

} // namespace flashsale
