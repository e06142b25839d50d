#pragma once

#include <QByteArray>
#include <QJsonObject>
#include <QList>
#include <QString>

#include <expected>

// What GET /api/v1/sales/{id}/fairness publishes (docs/WAITING_ROOM.md), its pages merged, and
// the check that it is what the algorithm of cohortshuffle.h gives: the buyer's evidence that
// the order was neither steered by the operator nor by anyone who joined. flashsale-ctl
// `fairness verify` is a thin shell around this class.
namespace flashsale::fairness {

class FairnessPublication {
public:
    struct Entry {
        QByteArray id;   // empty when the published value is not a string
        qint64 rank = 0; // 0 when the published value is not a positive integer
    };

    // The outcome of verify(): mismatches == 0 means every check passed. `field` names the
    // published field of the first mismatch (commitment, seed, digest, shuffle_seed,
    // cohort_size, entry, rank, entries, scheme, sale_id) and `first` says it in words.
    struct Verdict {
        int mismatches = 0;
        QString field;
        QString first;
        bool ok() const { return mismatches == 0; }
    };

    // Adds one page, or a whole merged document (the same shape with every entry). The first
    // page sets the header (every member but "entries" and "next"); each later page must repeat
    // it exactly. Returns the page's "next" (empty on the last page) or a one-line error.
    [[nodiscard]] std::expected<QString, QString> addPage(const QJsonObject &page);
    // A whole document from its JSON text (what `fairness verify --save` writes).
    [[nodiscard]] static std::expected<FairnessPublication, QString>
    fromJson(const QByteArray &json);
    // The merged document: the header, every entry, "next": null.
    QJsonObject toJson() const;

    qint64 saleId() const { return m_saleId; }
    QString state() const { return m_state; }
    QByteArray commitment() const { return m_commitment; }
    // Sealed: the seed and the rest are published ("state": "sealed" and a seed).
    bool isSealed() const;
    qint64 cohortSize() const { return m_cohortSize; }
    const QList<Entry> &entries() const { return m_entries; }

    // Recomputes everything: the format of every field; `expectedCommitment` (the commitment
    // seen in the lobby or in a receipt; empty: none) = the published commitment =
    // SHA-256(seed); the ranks are exactly 1..cohort_size, the ids well formed and unique; the
    // digest of the ids, the shuffle seed and every rank. Counts every mismatch and names the
    // first, in the order above, blaming the field a single change would explain (a changed
    // commitment leaves the seed agreeing with the shuffle seed; a changed id leaves the
    // digest agreeing with it). An unsealed publication can only be checked for its commitment.
    Verdict verify(const QByteArray &expectedCommitment = {}, int threads = 1) const;

private:
    QJsonObject m_header; // as published, for comparing pages
    qint64 m_saleId = 0;
    QString m_scheme, m_state;
    QByteArray m_commitment, m_seed, m_digest, m_shuffleSeed; // as published (hex)
    qint64 m_cohortSize = -1;                                 // -1: null or not an integer
    QList<Entry> m_entries;
};

} // namespace flashsale::fairness
