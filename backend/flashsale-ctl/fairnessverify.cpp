#include "fairnessverify.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSaveFile>
#include <QThread>

#include <algorithm>
#include <cstdio>

namespace flashsale::ctl {

namespace {

// A million entries come in 100 pages of 10,000 (about 280 KB each); far more pages means a
// "next" that never ends, a far larger page a server that is not one of ours. Either would
// otherwise cost this process memory without bound.
constexpr int kMaxPages = 100000;
constexpr qint64 kMaxPageBytes = 64 * 1024 * 1024;

void write(std::FILE *to, const QString &text) {
    const QByteArray bytes = text.toUtf8();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), to);
    std::fflush(to);
}

// "title: detail" of a problem+json body, else the first line of whatever came.
QString problemText(const QByteArray &body) {
    const QJsonObject p = QJsonDocument::fromJson(body).object();
    if (p.contains(QStringLiteral("title"))) {
        const QString detail = p.value(QStringLiteral("detail")).toString();
        return p.value(QStringLiteral("title")).toString()
               + (detail.isEmpty() ? QString() : QStringLiteral(": ") + detail);
    }
    return QString::fromUtf8(body.left(200)).section(QLatin1Char('\n'), 0, 0);
}

} // namespace

FairnessVerify::FairnessVerify(const Invocation &invocation, QObject *parent)
    : QObject(parent)
    , m_inv(invocation) {
    m_net.setRedirectPolicy(QNetworkRequest::NoLessSafeRedirectPolicy);
}

void FairnessVerify::start() {
    const Invocation::Fairness &f = m_inv.fairness;
    if (!f.inputPath.isEmpty()) {
        QFile file(f.inputPath);
        if (!file.open(QIODevice::ReadOnly)) {
            write(stderr, QStringLiteral("error: cannot read --input %1: %2\n")
                              .arg(f.inputPath, file.errorString()));
            finish(kExitUsage);
            return;
        }
        auto p = fairness::FairnessPublication::fromJson(file.readAll());
        if (!p) {
            write(stderr, QStringLiteral("error: --input %1 is not a fairness publication: %2\n")
                              .arg(f.inputPath, p.error()));
            finish(kExitServerError);
            return;
        }
        m_publication = std::move(*p);
        QMetaObject::invokeMethod(this, &FairnessVerify::conclude, Qt::QueuedConnection);
        return;
    }
    QUrl url = f.api;
    url.setPath(url.path().chopped(url.path().endsWith(QLatin1Char('/')) ? 1 : 0)
                + QStringLiteral("/api/v1/sales/%1/fairness").arg(f.saleId));
    fetch(url);
}

void FairnessVerify::fetch(const QUrl &url) {
    QNetworkRequest request(url);
    request.setTransferTimeout(m_inv.timeoutMs);
    request.setRawHeader("Accept", "application/json");
    QNetworkReply *reply = m_net.get(request);
    connect(reply, &QNetworkReply::downloadProgress, this, [this, reply, url](qint64 received) {
        if (received <= kMaxPageBytes || m_done)
            return;
        write(stderr, QStringLiteral("error: GET %1: a page of more than %2 MB; stopped\n")
                          .arg(url.toString())
                          .arg(kMaxPageBytes >> 20));
        finish(kExitServerError);
        reply->abort();
    });
    connect(reply, &QNetworkReply::finished, this, [this, reply, url] {
        reply->deleteLater();
        if (m_done)
            return;
        const int status = reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt();
        const QByteArray body = reply->readAll();
        if (status == 0) {
            write(stderr, QStringLiteral("error: cannot reach %1: %2\n")
                              .arg(url.toString(), reply->errorString()));
            finish(kExitConnect);
            return;
        }
        if (status != 200) {
            write(stderr, QStringLiteral("error: GET %1: HTTP %2: %3\n")
                              .arg(url.toString())
                              .arg(status)
                              .arg(problemText(body)));
            finish(kExitServerError);
            return;
        }
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(body, &error);
        auto next = doc.isObject() ? m_publication.addPage(doc.object())
                                   : std::expected<QString, QString>(
                                       std::unexpected(error.error != QJsonParseError::NoError
                                                           ? error.errorString()
                                                           : QStringLiteral("not a JSON object")));
        if (!next) {
            // A page that contradicts the first is itself a mismatch in what is published.
            write(stderr, QStringLiteral("error: unfair: sale %1: page %2 (%3): %4\n")
                              .arg(m_inv.fairness.saleId)
                              .arg(m_pages + 1)
                              .arg(url.toString(), next.error()));
            finish(kExitUnfair);
            return;
        }
        if (++m_pages >= kMaxPages && !next->isEmpty()) {
            write(stderr, QStringLiteral("error: more than %1 pages; stopped at %2\n")
                              .arg(kMaxPages)
                              .arg(url.toString()));
            finish(kExitServerError);
            return;
        }
        if (next->isEmpty())
            conclude();
        else
            fetch(url.resolved(QUrl(*next)));
    });
}

void FairnessVerify::conclude() {
    const Invocation::Fairness &f = m_inv.fairness;
    const fairness::FairnessPublication &p = m_publication;
    if (!f.savePath.isEmpty()) {
        QSaveFile out(f.savePath);
        if (!out.open(QIODevice::WriteOnly)
            || out.write(QJsonDocument(p.toJson()).toJson(QJsonDocument::Compact)) < 0
            || !out.commit()) {
            write(stderr, QStringLiteral("error: cannot write --save %1: %2\n")
                              .arg(f.savePath, out.errorString()));
            finish(kExitUsage);
            return;
        }
    }

    fairness::FairnessPublication::Verdict v =
        p.verify(f.commitment, std::clamp(QThread::idealThreadCount(), 1, 4));
    if (p.saleId() != f.saleId) {
        // Counted first: the right shuffle of the wrong sale proves nothing about this one.
        const QString words = QStringLiteral("the publication is of sale %1, not of sale %2")
                                  .arg(p.saleId())
                                  .arg(f.saleId);
        if (v.mismatches == 0 || v.field != QLatin1String("sale_id")) {
            v.field = QStringLiteral("sale_id");
            v.first = words;
            ++v.mismatches;
        }
    }
    const bool sealed = p.isSealed();
    if (m_inv.json) {
        const QJsonObject o{{"sale_id", f.saleId},
                            {"state", p.state()},
                            {"verified", sealed && v.ok()},
                            {"mismatches", v.mismatches},
                            {"field", v.ok() ? QJsonValue(QJsonValue::Null) : QJsonValue(v.field)},
                            {"first", v.ok() ? QJsonValue(QJsonValue::Null) : QJsonValue(v.first)},
                            {"commitment", QString::fromLatin1(p.commitment())},
                            {"cohort_size", sealed ? QJsonValue(p.cohortSize()) : QJsonValue()}};
        write(stdout, QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Compact)) + '\n');
    }
    if (!v.ok()) {
        write(stderr,
              QStringLiteral("error: unfair: sale %1: %2 mismatch%3; the first, in %4: %5\n")
                  .arg(f.saleId)
                  .arg(v.mismatches)
                  .arg(v.mismatches == 1 ? QString() : QStringLiteral("es"))
                  .arg(v.field, v.first));
        finish(kExitUnfair);
        return;
    }
    if (!sealed) {
        write(stderr,
              QStringLiteral("error: sale %1 is not sealed yet (state %2): nothing to "
                             "verify but the commitment %3%4\n")
                  .arg(f.saleId)
                  .arg(p.state(), QString::fromLatin1(p.commitment()),
                       f.commitment.isEmpty() ? QString()
                                              : QStringLiteral(", which is the one expected")));
        finish(kExitServerError);
        return;
    }
    if (!m_inv.json)
        write(stdout,
              QStringLiteral("sale %1: the shuffle verifies\n"
                             "  commitment    %2 = SHA-256(seed)%3\n"
                             "  cohort_size   %4, ranks exactly 1..%4\n"
                             "  digest        recomputed from the %4 entry ids\n"
                             "  shuffle_seed  recomputed from the seed and the digest\n"
                             "  every rank    recomputed\n")
                  .arg(f.saleId)
                  .arg(QString::fromLatin1(p.commitment()),
                       f.commitment.isEmpty() ? QString() : QStringLiteral(" = --commitment"))
                  .arg(p.cohortSize()));
    finish(kExitOk);
}

void FairnessVerify::finish(int exitCode) {
    if (m_done)
        return;
    m_done = true;
    QMetaObject::invokeMethod(
        this, [this, exitCode] { Q_EMIT finished(exitCode); }, Qt::QueuedConnection);
}

} // namespace flashsale::ctl
