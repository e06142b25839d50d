// flashsale-admission-bench: what admission costs the API per request, on one core: checking
// a proof-of-work solution (HMAC of the challenge, then SHA-256 of challenge:solution) and
// verifying a buyer token (HS256). docs/ADMISSION.md aims at 200,000 checks per second per core.
//
//   flashsale-admission-bench [--count 200000] [--rounds 5]
//
// Prints each round and the median rate of each kind of check.

#include "admission/buyertoken.h"
#include "admission/powchallenge.h"

#include <QCommandLineParser>
#include <QCoreApplication>
#include <QDateTime>
#include <QElapsedTimer>

#include <algorithm>
#include <cstdio>

using namespace flashsale;

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    QCommandLineParser p;
    p.setApplicationDescription(QStringLiteral("Cost of admission checks on one core."));
    p.addHelpOption();
    p.addOption({QStringLiteral("count"), QStringLiteral("Checks per round."), QStringLiteral("n"),
                 QStringLiteral("200000")});
    p.addOption({QStringLiteral("rounds"), QStringLiteral("Rounds."), QStringLiteral("n"),
                 QStringLiteral("5")});
    p.process(app);
    const int count = p.value(QStringLiteral("count")).toInt();
    const int rounds = p.value(QStringLiteral("rounds")).toInt();
    if (count <= 0 || rounds <= 0)
        return 2;

    const QByteArray secret = "bench-secret-of-at-least-thirty-two-chars";
    const PowChallenges pow(secret);
    const BuyerTokens tokens(secret);
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    // Distinct challenges and tokens, prepared (and solved, at 8 bits) before the clock starts.
    QList<QByteArray> challenges, solutions, issued;
    for (int i = 0; i < count; ++i) {
        const QByteArray user = "user-" + QByteArray::number(i);
        challenges << pow.issue(42, user, 8, now + 3600000);
        solutions << PowChallenges::solve(challenges.last(), 8);
        issued << tokens.issue(user, now, now + 3600000);
    }
    QList<double> powRates, tokenRates;
    for (int r = 1; r <= rounds; ++r) {
        QElapsedTimer t;
        t.start();
        int ok = 0;
        for (int i = 0; i < count; ++i)
            ok += pow.verify(challenges[i], solutions[i], 42, "user-" + QByteArray::number(i), now)
                      .has_value();
        const double powRate = count / (double(t.nsecsElapsed()) / 1e9);
        t.restart();
        int valid = 0;
        for (int i = 0; i < count; ++i)
            valid += tokens.verify(issued[i], now).has_value();
        const double tokenRate = count / (double(t.nsecsElapsed()) / 1e9);
        if (ok != count || valid != count) {
            std::fprintf(stderr, "round %d: %d of %d solutions, %d tokens accepted\n", r, ok, count,
                         valid);
            return 1;
        }
        std::printf("round %d: proof-of-work checks %.0f/s, token checks %.0f/s\n", r, powRate,
                    tokenRate);
        powRates << powRate;
        tokenRates << tokenRate;
    }
    std::sort(powRates.begin(), powRates.end());
    std::sort(tokenRates.begin(), tokenRates.end());
    std::printf("median of %d rounds of %d, one thread: proof-of-work %.0f checks/s, "
                "buyer token %.0f checks/s\n",
                rounds, count, powRates[rounds / 2], tokenRates[rounds / 2]);
    return 0;
}
