#include "fairnesspublication.h"

#include "cohortshuffle.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonValue>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

namespace flashsale::fairness {

namespace {

// Far beyond --waiting-room-max-entries (2,000,000 by default): a published cohort_size above
// this is not believed (and would cost the verifier memory in proportion).
constexpr qint64 kMaxCohortSize = 10'000'000;

// A JSON number that is a whole number in range, else -1.
qint64 wholeNumber(const QJsonValue &v) {
    if (!v.isDouble())
        return -1;
    const double d = v.toDouble();
    if (d < 0 || d > 9.0e15 || std::floor(d) != d)
        return -1;
    return qint64(d);
}

QByteArray text(const QJsonValue &v) {
    return v.isString() ? v.toString().toUtf8() : QByteArray();
}

// The positions of `ids` in bytewise order of the ids. Entry ids are 16 bytes: sorted as
// fixed-size values with their position, a million take a fraction of a pointer-chasing sort.
std::vector<qint32> sortedById(const QList<QByteArray> &ids) {
    const size_t n = size_t(ids.size());
    std::vector<qint32> order(n);
    const bool fixed = std::all_of(ids.cbegin(), ids.cend(),
                                   [](const QByteArray &id) { return id.size() == kEntryIdSize; });
    if (!fixed) {
        for (size_t i = 0; i < n; ++i)
            order[i] = qint32(i);
        std::sort(order.begin(), order.end(), [&](qint32 a, qint32 b) { return ids[a] < ids[b]; });
        return order;
    }
    struct Packed {
        std::array<char, kEntryIdSize> id;
        qint32 index;
    };
    std::vector<Packed> packed(n);
    for (size_t i = 0; i < n; ++i) {
        std::memcpy(packed[i].id.data(), ids[qsizetype(i)].constData(), kEntryIdSize);
        packed[i].index = qint32(i);
    }
    std::sort(packed.begin(), packed.end(), [](const Packed &a, const Packed &b) {
        const int c = std::memcmp(a.id.data(), b.id.data(), kEntryIdSize);
        return c != 0 ? c < 0 : a.index < b.index;
    });
    for (size_t i = 0; i < n; ++i)
        order[i] = packed[i].index;
    return order;
}

QString shown(const QByteArray &value) {
    return value.isEmpty() ? QStringLiteral("(none)")
                           : QStringLiteral("\"%1\"").arg(QString::fromUtf8(value.left(80)));
}

} // namespace

std::expected<QString, QString> FairnessPublication::addPage(const QJsonObject &page) {
    QJsonObject header = page;
    header.remove(QStringLiteral("entries"));
    header.remove(QStringLiteral("next"));
    if (m_header.isEmpty()) {
        if (!page.contains(QStringLiteral("sale_id")) || !page.contains(QStringLiteral("scheme")))
            return std::unexpected(
                QStringLiteral("not a fairness publication: no sale_id or scheme"));
        m_header = header;
        m_saleId = wholeNumber(page.value(QStringLiteral("sale_id")));
        m_scheme = page.value(QStringLiteral("scheme")).toString();
        m_state = page.value(QStringLiteral("state")).toString();
        m_commitment = text(page.value(QStringLiteral("commitment")));
        m_seed = text(page.value(QStringLiteral("seed")));
        m_digest = text(page.value(QStringLiteral("digest")));
        m_shuffleSeed = text(page.value(QStringLiteral("shuffle_seed")));
        m_cohortSize = wholeNumber(page.value(QStringLiteral("cohort_size")));
        if (m_cohortSize >= 0)
            m_entries.reserve(std::min(m_cohortSize, kMaxCohortSize));
    } else if (header != m_header) {
        QString differs;
        for (auto it = header.begin(); it != header.end() && differs.isEmpty(); ++it)
            if (m_header.value(it.key()) != it.value())
                differs = it.key();
        for (auto it = m_header.begin(); it != m_header.end() && differs.isEmpty(); ++it)
            if (!header.contains(it.key()))
                differs = it.key();
        return std::unexpected(
            QStringLiteral("a later page's %1 differs from the first page's").arg(differs));
    }
    const QJsonValue entries = page.value(QStringLiteral("entries"));
    if (!entries.isArray() && !entries.isNull() && !entries.isUndefined())
        return std::unexpected(QStringLiteral("\"entries\" is not an array"));
    for (const QJsonValue &e : entries.toArray()) {
        const QJsonArray pair = e.toArray();
        Entry entry;
        entry.id = text(pair.at(0));
        entry.rank = pair.size() == 2 ? std::max<qint64>(0, wholeNumber(pair.at(1))) : 0;
        m_entries.append(entry);
    }
    const QJsonValue next = page.value(QStringLiteral("next"));
    return next.isString() ? next.toString() : QString();
}

std::expected<FairnessPublication, QString> FairnessPublication::fromJson(const QByteArray &json) {
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &error);
    if (error.error != QJsonParseError::NoError)
        return std::unexpected(
            QStringLiteral("not JSON: %1 at offset %2").arg(error.errorString()).arg(error.offset));
    if (!doc.isObject())
        return std::unexpected(QStringLiteral("not a JSON object"));
    FairnessPublication p;
    auto added = p.addPage(doc.object());
    if (!added)
        return std::unexpected(added.error());
    return p;
}

QJsonObject FairnessPublication::toJson() const {
    QJsonObject o = m_header;
    QJsonArray entries;
    for (const Entry &e : m_entries)
        entries.append(QJsonArray{QString::fromUtf8(e.id), e.rank});
    o.insert(QStringLiteral("entries"), entries);
    o.insert(QStringLiteral("next"), QJsonValue::Null);
    return o;
}

bool FairnessPublication::isSealed() const {
    return m_state == QLatin1String("sealed") && !m_seed.isEmpty();
}

FairnessPublication::Verdict FairnessPublication::verify(const QByteArray &expectedCommitment,
                                                         int threads) const {
    Verdict v;
    const auto miss = [&v](const char *field, const QString &words) {
        if (v.mismatches++ == 0) {
            v.field = QString::fromLatin1(field);
            v.first = words;
        }
    };

    if (m_scheme != QLatin1String(kScheme)) {
        miss("scheme", QStringLiteral("scheme is \"%1\"; this verifier knows only \"%2\"")
                           .arg(m_scheme, QLatin1String(kScheme)));
        return v;
    }
    if (m_saleId <= 0)
        miss("sale_id", QStringLiteral("sale_id is not a positive integer"));
    if (!expectedCommitment.isEmpty() && expectedCommitment.toLower() != m_commitment)
        miss("commitment", QStringLiteral("published %1, but %2 was expected (--commitment)")
                               .arg(shown(m_commitment), shown(expectedCommitment)));
    if (!CohortShuffle::isHex64(m_commitment))
        miss("commitment",
             QStringLiteral("%1 is not 64 lowercase hex digits").arg(shown(m_commitment)));
    if (!isSealed())
        return v; // nothing else is public before the seal

    bool formatOk = v.mismatches == 0;
    const std::pair<const char *, const QByteArray *> hexFields[] = {
        {"seed", &m_seed}, {"digest", &m_digest}, {"shuffle_seed", &m_shuffleSeed}};
    for (const auto &[name, value] : hexFields) {
        if (!CohortShuffle::isHex64(*value)) {
            miss(name, QStringLiteral("%1 is not 64 lowercase hex digits").arg(shown(*value)));
            formatOk = false;
        }
    }
    const qint64 n = m_cohortSize;
    if (n < 0 || n > kMaxCohortSize) {
        miss("cohort_size",
             QStringLiteral("cohort_size is not a whole number from 0 to %1").arg(kMaxCohortSize));
        formatOk = false;
    }
    if (!formatOk)
        return v; // the hashes below need every header field

    const QByteArray seed = QByteArray::fromHex(m_seed);
    const QByteArray shuffleSeed = QByteArray::fromHex(m_shuffleSeed);

    // The seed against the commitment; the shuffle seed from the seed and the published digest
    // and size. When only one of the two holds, the field they do not share is the odd one out.
    const QByteArray seedHash = CohortShuffle::commitment(seed);
    const QByteArray derived = CohortShuffle::shuffleSeed(seed, m_saleId, n, m_digest);
    const bool shuffleSeedHolds = derived == shuffleSeed;
    if (seedHash != m_commitment) {
        if (shuffleSeedHolds)
            miss("commitment",
                 QStringLiteral("published %1, but SHA-256(seed) is %2 (the seed reproduces the "
                                "shuffle seed, so the commitment is what differs)")
                     .arg(shown(m_commitment), shown(seedHash)));
        else
            miss("seed",
                 QStringLiteral("SHA-256(seed) is %1, but the commitment published before anyone "
                                "joined is %2")
                     .arg(shown(seedHash), shown(m_commitment)));
    }

    // The list: well-formed ids, each once; ranks exactly 1..cohort_size.
    const qsizetype count = m_entries.size();
    QList<QByteArray> ids;
    ids.reserve(count);
    for (qsizetype i = 0; i < count; ++i) {
        const Entry &e = m_entries[i];
        ids.append(e.id);
        if (!CohortShuffle::isEntryId(e.id))
            miss("entry", QStringLiteral("entry #%1: %2 is not an entry id (16 base64url "
                                         "characters)")
                              .arg(i + 1)
                              .arg(shown(e.id)));
    }
    const std::vector<qint32> byId = sortedById(ids);
    for (size_t k = 1; k < byId.size(); ++k) {
        const Entry &a = m_entries[byId[k - 1]], &b = m_entries[byId[k]];
        if (a.id == b.id)
            miss("entry", QStringLiteral("entry %1 is listed twice (ranks %2 and %3)")
                              .arg(QString::fromUtf8(a.id))
                              .arg(a.rank)
                              .arg(b.rank));
    }
    // Ranks exactly 1..count with count != cohort_size: the list is whole and the size is what
    // differs. Otherwise say which ranks are out of range, given twice or missing.
    bool whole = count <= kMaxCohortSize;
    if (whole) {
        std::vector<bool> seen(size_t(count) + 1, false);
        for (qsizetype i = 0; i < count && whole; ++i) {
            const qint64 r = m_entries[i].rank;
            whole = r >= 1 && r <= count && !seen[size_t(r)];
            if (whole)
                seen[size_t(r)] = true;
        }
    }
    if (whole && count != n) {
        miss("cohort_size", QStringLiteral("published %1, but the list has %2 entries, ranked "
                                           "1..%2")
                                .arg(n)
                                .arg(count));
    } else if (!whole) {
        std::vector<qint32> holder(size_t(n) + 1, -1);
        for (qsizetype i = 0; i < count; ++i) {
            const Entry &e = m_entries[i];
            if (e.rank < 1 || e.rank > n)
                miss("rank", QStringLiteral("rank of %1 is %2, outside 1..%3")
                                 .arg(QString::fromUtf8(e.id))
                                 .arg(e.rank)
                                 .arg(n));
            else if (holder[size_t(e.rank)] >= 0)
                miss("rank", QStringLiteral("rank %1 is given to two entries, %2 and %3")
                                 .arg(e.rank)
                                 .arg(QString::fromUtf8(m_entries[holder[size_t(e.rank)]].id),
                                      QString::fromUtf8(e.id)));
            else
                holder[size_t(e.rank)] = qint32(i);
        }
        for (qint64 r = 1; r <= n; ++r)
            if (holder[size_t(r)] < 0)
                miss("entries",
                     QStringLiteral("no entry has rank %1 (the ranks must be exactly 1..%2, the "
                                    "cohort_size)")
                         .arg(r)
                         .arg(n));
        if (count != n)
            miss("entries",
                 QStringLiteral("%1 entries are listed, but cohort_size is %2").arg(count).arg(n));
    }

    // The digest of the listed ids. When it differs but the published digest agrees with the
    // seed and the shuffle seed, the list is what changed.
    QList<QByteArray> sorted;
    sorted.reserve(count);
    for (qint32 i : byId)
        sorted.append(ids[i]);
    const QByteArray digest = CohortShuffle::digestOfSorted(sorted);
    if (digest != m_digest) {
        if (shuffleSeedHolds)
            miss("entry",
                 QStringLiteral("the listed ids hash to %1, not to the published digest %2, "
                                "which the seed and the shuffle seed confirm: an entry id was "
                                "changed, added or removed")
                     .arg(shown(digest), shown(m_digest)));
        else
            miss("digest", QStringLiteral("published %1, but the %2 listed ids hash to %3")
                               .arg(shown(m_digest))
                               .arg(count)
                               .arg(shown(digest)));
    }
    if (!shuffleSeedHolds)
        miss("shuffle_seed",
             QStringLiteral("published %1, but HMAC-SHA256(seed, scheme, sale_id, cohort_size, "
                            "digest) is %2")
                 .arg(shown(m_shuffleSeed), shown(derived.toHex())));

    // Every rank, under the published shuffle seed.
    const QList<qint32> order = CohortShuffle::rankOrder(ids, shuffleSeed, threads);
    for (qsizetype k = 0; k < order.size(); ++k) {
        const Entry &e = m_entries[order[k]];
        if (e.rank != k + 1)
            miss("rank", QStringLiteral("rank of %1: published %2, computed %3")
                             .arg(QString::fromUtf8(e.id))
                             .arg(e.rank)
                             .arg(k + 1));
    }
    return v;
}

} // namespace flashsale::fairness
