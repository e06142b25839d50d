#include "credentialstore.h"

#include <qt6keychain/keychain.h>

namespace flashsale::console {

namespace {

CredentialStore::Status statusOf(QKeychain::Error error) {
    switch (error) {
    case QKeychain::NoError:
        return CredentialStore::Status::Ok;
    case QKeychain::EntryNotFound:
        return CredentialStore::Status::NotFound;
    case QKeychain::NoBackendAvailable:
    case QKeychain::NotImplemented:
        return CredentialStore::Status::Unavailable;
    case QKeychain::AccessDeniedByUser:
    case QKeychain::AccessDenied:
        return CredentialStore::Status::Denied;
    case QKeychain::CouldNotDeleteEntry:
    case QKeychain::OtherError:
        break;
    }
    return CredentialStore::Status::Failed;
}

// Starts `job` and hands its outcome to `done` on the caller's thread, queued (never from inside
// start()), and only while `context` lives.
void run(QKeychain::Job *job, const QString &account, QObject *context,
         CredentialStore::Callback done) {
    job->setAutoDelete(true);
    // Off by default already; said here because turning it on would write the secret into
    // QSettings in clear text, which is what the keychain is for.
    job->setInsecureFallback(false);
    job->setKey(account);
    // The outcome is copied out at once (the job deletes itself after this signal) and handed
    // on queued, so `done` never runs inside start() or inside QtKeychain's own callback.
    QObject::connect(job, &QKeychain::Job::finished, context,
                     [context, done = std::move(done)](QKeychain::Job *finished) {
                         CredentialStore::Outcome outcome;
                         outcome.status = statusOf(finished->error());
                         if (outcome.status == CredentialStore::Status::Ok) {
                             if (auto *read = qobject_cast<QKeychain::ReadPasswordJob *>(finished))
                                 outcome.secret = read->textData();
                         } else {
                             outcome.message = finished->errorString();
                         }
                         QMetaObject::invokeMethod(
                             context, [done, outcome] { done(outcome); }, Qt::QueuedConnection);
                     });
    job->start();
}

} // namespace

CredentialStore::CredentialStore(const QString &service, QObject *parent)
    : QObject(parent)
    , m_service(service) {}

QString CredentialStore::account(const QString &operatorName, const QString &authority) {
    return QStringLiteral("%1@%2").arg(
        operatorName.isEmpty() ? QStringLiteral("bootstrap") : operatorName, authority);
}

void CredentialStore::read(const QString &account, QObject *context, Callback done) {
    run(new QKeychain::ReadPasswordJob(m_service, this), account, context, std::move(done));
}

void CredentialStore::write(const QString &account, const QString &secret, QObject *context,
                            Callback done) {
    auto *job = new QKeychain::WritePasswordJob(m_service, this);
    job->setTextData(secret);
    run(job, account, context, std::move(done));
}

void CredentialStore::remove(const QString &account, QObject *context, Callback done) {
    run(new QKeychain::DeletePasswordJob(m_service, this), account, context, std::move(done));
}

QString describeKeychainFailure(const CredentialStore::Outcome &outcome, bool reading) {
    const QString why =
        outcome.message.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(outcome.message);
    QString what;
    switch (outcome.status) {
    case CredentialStore::Status::Ok:
        return {};
    case CredentialStore::Status::NotFound:
        return reading ? QObject::tr("No password is stored in the system keychain for this "
                                     "login yet.")
                       : QString();
    case CredentialStore::Status::Unavailable:
        what = QObject::tr("No system keychain is available on this desktop%1").arg(why);
        break;
    case CredentialStore::Status::Denied:
        what = QObject::tr("The system keychain refused access%1").arg(why);
        break;
    case CredentialStore::Status::Failed:
        what = QObject::tr("The system keychain could not be used%1").arg(why);
        break;
    }
    return reading ? QObject::tr("%1: enter the password; it cannot be remembered.").arg(what)
                   : QObject::tr("%1: the password was not stored, and will be asked for at the "
                                 "next start.")
                         .arg(what);
}

} // namespace flashsale::console
