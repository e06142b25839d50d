#include "passwordhash.h"

#include "core/sodium.h"

#include <QPointer>
#include <QThreadPool>

#include <sodium.h>

namespace flashsale {

namespace {

QThreadPool &hashPool() {
    static QThreadPool *pool = [] {
        auto *p = new QThreadPool;
        p->setMaxThreadCount(2);
        p->setObjectName(QStringLiteral("password-hash"));
        return p;
    }();
    return *pool;
}

// Runs `work` on the hash pool and hands its result to `done` on `context`'s thread.
template<typename T>
void offLoop(QObject *context, std::function<T()> work, std::function<void(const T &)> done) {
    QPointer<QObject> guard(context);
    hashPool().start([guard, work = std::move(work), done = std::move(done)]() mutable {
        T result = work();
        if (!guard)
            return;
        QMetaObject::invokeMethod(
            guard.data(),
            [guard, result = std::move(result), done = std::move(done)] {
                if (guard)
                    done(result);
            },
            Qt::QueuedConnection);
    });
}

} // namespace

Result<QByteArray> hashPasswordBlocking(const QByteArray &password) {
    if (!sodiumReady())
        return fail(ErrorCode::Internal, QStringLiteral("libsodium did not start"));
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password.constData(), quint64(password.size()),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE)
        != 0)
        return fail(ErrorCode::Internal,
                    QStringLiteral("crypto_pwhash_str failed (out of memory)"));
    return QByteArray(out);
}

bool verifyPasswordBlocking(const QByteArray &encodedHash, const QByteArray &password) {
    if (!sodiumReady())
        return false;
    if (encodedHash.isEmpty()) {
        // No such operator: spend what a real verification costs, then say no.
        static const QByteArray dummy = hashPasswordBlocking(randomSecret(24)).value_or("x");
        [[maybe_unused]] const int spent = crypto_pwhash_str_verify(
            dummy.constData(), password.constData(), quint64(password.size()));
        return false;
    }
    // crypto_pwhash_str_verify wants a NUL-terminated string; QByteArray guarantees one.
    return crypto_pwhash_str_verify(encodedHash.constData(), password.constData(),
                                    quint64(password.size()))
           == 0;
}

QByteArray randomSecret(int bytes) {
    if (!sodiumReady())
        return {};
    QByteArray raw(bytes, Qt::Uninitialized);
    randombytes_buf(raw.data(), size_t(raw.size()));
    const QByteArray out =
        raw.toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
    sodium_memzero(raw.data(), size_t(raw.size()));
    return out;
}

void hashPasswordAsync(QObject *context, QByteArray password,
                       std::function<void(const Result<QByteArray> &)> done) {
    offLoop<Result<QByteArray>>(
        context, [password = std::move(password)] { return hashPasswordBlocking(password); },
        std::move(done));
}

void verifyPasswordAsync(QObject *context, QByteArray encodedHash, QByteArray password,
                         std::function<void(bool)> done) {
    offLoop<bool>(
        context,
        [encodedHash = std::move(encodedHash), password = std::move(password)] {
            return verifyPasswordBlocking(encodedHash, password);
        },
        std::move(done));
}

} // namespace flashsale
