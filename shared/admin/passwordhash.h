#pragma once

#include "core/result.h"

#include <QByteArray>
#include <QObject>

#include <functional>

namespace flashsale {

// Operator passwords, hashed with libsodium's crypto_pwhash_str (argon2id, the INTERACTIVE
// limits: 2 passes over 64 MiB, about 50-100 ms on one core). Nothing here is hand-written
// cryptography: the salt, the parameters and the encoding are libsodium's.
//
// The *Async functions run the work on a pool of at most two threads reserved for it (so at
// most 128 MiB is in use at once, and the global pool is not starved), then call `done` on
// `context`'s thread through its event loop, exactly once, unless `context` was destroyed in
// between (then `done` is dropped). Never call the blocking ones on an event loop that serves
// requests: they exist for the pool and for start-up (the bootstrap operator).

// The longest password accepted, in bytes (argon2 cost does not depend on it; copying does).
inline constexpr int kMaxPasswordBytes = 1024;
// The shortest password operator.create and rotate-password accept.
inline constexpr int kMinPasswordChars = 12;

// The encoded hash ("$argon2id$v=19$m=65536,t=2,p=1$..."). Fails (Internal) when libsodium
// cannot allocate its memory or does not start.
[[nodiscard]] Result<QByteArray> hashPasswordBlocking(const QByteArray &password);
// Whether `password` matches `encodedHash`; false for a malformed hash too. An empty hash (no
// such operator) is verified against a dummy one, so that it costs the same, and is false.
bool verifyPasswordBlocking(const QByteArray &encodedHash, const QByteArray &password);
// `bytes` random bytes from libsodium's CSPRNG, base64url without padding.
QByteArray randomSecret(int bytes);

void hashPasswordAsync(QObject *context, QByteArray password,
                       std::function<void(const Result<QByteArray> &)> done);
void verifyPasswordAsync(QObject *context, QByteArray encodedHash, QByteArray password,
                         std::function<void(bool)> done);

} // namespace flashsale
