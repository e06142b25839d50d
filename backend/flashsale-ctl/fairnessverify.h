#pragma once

#include "ctlargs.h"
#include "fairness/fairnesspublication.h"

#include <QNetworkAccessManager>
#include <QObject>

namespace flashsale::ctl {

// `flashsale-ctl fairness verify SALE` (issue 16, docs/WAITING_ROOM.md): reads what
// GET /api/v1/sales/{id}/fairness publishes, page by page following "next" (or a file saved
// before, --input), optionally saves it merged (--save), and recomputes it with
// fairness::FairnessPublication. finished() carries the exit code: 0 verified; 5 (kExitUnfair)
// a mismatch, the first named on stderr with the count; 1 the API answered with an error or
// the sale is not sealed yet; 3 the API could not be reached. Never blocks the event loop but
// for the final recomputation (a second for a million entries).
class FairnessVerify final : public QObject {
    Q_OBJECT
public:
    explicit FairnessVerify(const Invocation &invocation, QObject *parent = nullptr);
    void start();

Q_SIGNALS:
    void finished(int exitCode);

private:
    void fetch(const QUrl &url);
    void conclude();
    void finish(int exitCode);

    Invocation m_inv;
    QNetworkAccessManager m_net;
    fairness::FairnessPublication m_publication;
    int m_pages = 0;
    bool m_done = false;
};

} // namespace flashsale::ctl
