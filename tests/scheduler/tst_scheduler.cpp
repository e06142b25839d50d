#include <QTest>

class TstScheduler : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void placeholder() { QSKIP("being written"); }
};

QTEST_GUILESS_MAIN(TstScheduler)
#include "tst_scheduler.moc"
