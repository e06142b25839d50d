#pragma once

#include <QObject>
#include <QPointer>
#include <QString>

#include <functional>

namespace flashsale::console {

// The console's one secret (an operator's password or the bootstrap admin token) in the OS
// keychain, through QtKeychain: the Secret Service (GNOME Keyring, KWallet) on Linux, the
// Keychain on macOS, the Credential Manager on Windows. Nothing is ever written anywhere else:
// QtKeychain's "insecure fallback" (clear text in QSettings) stays off, so without a keychain
// the secret is simply not remembered and the caller asks for it again.
//
// Every call is asynchronous (a QtKeychain job on the keychain's own D-Bus or OS call; no nested
// event loop) and calls `done` exactly once, queued on the thread that called, unless `context`
// is gone by then (the callback is dropped). GUI thread only; owns its jobs until they finish.
class CredentialStore final : public QObject {
    Q_OBJECT
public:
    enum class Status {
        Ok,          // read: `secret` holds it; write/remove: done
        NotFound,    // read/remove: nothing stored under that account
        Unavailable, // no keychain backend (no Secret Service on the session bus, ...)
        Denied,      // the user or the OS refused access
        Failed,      // anything else; `message` says what
    };
    struct Outcome {
        Status status = Status::Failed;
        QString secret;  // read, on Ok only
        QString message; // the keychain's own words, for display; never contains the secret
    };
    using Callback = std::function<void(const Outcome &)>;

    // `service` names the console's entries in the keychain ("flashsale-console").
    explicit CredentialStore(const QString &service, QObject *parent = nullptr);

    // The keychain account for a login: "<operator>@<host:port>", or "bootstrap@<host:port>"
    // for the admin token (an empty operator name). One entry per server and operator.
    static QString account(const QString &operatorName, const QString &authority);

    void read(const QString &account, QObject *context, Callback done);
    void write(const QString &account, const QString &secret, QObject *context, Callback done);
    void remove(const QString &account, QObject *context, Callback done);

    QString service() const { return m_service; }

private:
    QString m_service;
};

// A sentence for the user: what went wrong with the keychain and what it means for them, after
// a read (`reading`) or a write. Empty for Ok (and for NotFound after a write).
QString describeKeychainFailure(const CredentialStore::Outcome &outcome, bool reading);

} // namespace flashsale::console
