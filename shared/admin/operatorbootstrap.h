#pragma once

#include "core/result.h"

#include <QString>

namespace flashsale {

// The first operator of a fresh installation (--bootstrap-operator-file). When the operators
// table is empty, creates operator "admin" with role admin and a random password (24 bytes
// from libsodium's CSPRNG, base64url), and writes that password, and nothing else, to `path`
// with mode 0600 (created, or truncated and re-moded, never followed through a symlink).
// The password is never logged. The row is inserted first and the file written only when this
// process's insert won, so several API processes starting at once agree on one password.
//
// Runs at start-up before the event loop, on its own blocking connection, as the migrations
// do (the argon2 hash is computed here too, once). Returns true when it created the operator,
// false when operators existed already; fails when PostgreSQL cannot be reached or the file
// cannot be written (the operator then exists with a password nobody knows: log in with the
// bootstrap token and rotate it).
[[nodiscard]] Result<bool> bootstrapOperator(const QString &conninfo, const QString &path);

} // namespace flashsale
