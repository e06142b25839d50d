#include "cohortshuffle.h"

#include "core/hmacsha256.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <thread>
#include <vector>

namespace flashsale::fairness {

namespace {

// One entry's sort key: its MAC under the shuffle seed, and where it is in the input.
struct Key {
    Sha256::Digest mac;
    qint32 index;
};

} // namespace

bool CohortShuffle::isEntryId(QByteArrayView id) {
    if (id.size() != kEntryIdSize)
        return false;
    for (char c : id) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                        || c == '-' || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

QByteArray CohortShuffle::newEntryId(QRandomGenerator &rng) {
    quint32 raw[3];
    rng.fillRange(raw);
    return QByteArray(reinterpret_cast<const char *>(raw), sizeof raw)
        .toBase64(QByteArray::Base64UrlEncoding | QByteArray::OmitTrailingEquals);
}

bool CohortShuffle::isHex64(QByteArrayView text) {
    if (text.size() != 64)
        return false;
    for (char c : text)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    return true;
}

QByteArray CohortShuffle::commitment(QByteArrayView seed) {
    return Sha256::hashHex(seed);
}

QByteArray CohortShuffle::digest(QList<QByteArray> ids) {
    // Entry ids are 16 bytes: sorted as fixed-size values, a million take a tenth of the time
    // that sorting the QByteArrays (a pointer chase per comparison) would.
    const bool fixed = std::all_of(ids.cbegin(), ids.cend(),
                                   [](const QByteArray &id) { return id.size() == kEntryIdSize; });
    if (!fixed) {
        std::sort(ids.begin(), ids.end()); // QByteArray's < is bytewise, unsigned
        return digestOfSorted(ids);
    }
    std::vector<std::array<char, kEntryIdSize>> packed(static_cast<size_t>(ids.size()));
    for (qsizetype i = 0; i < ids.size(); ++i)
        std::memcpy(packed[size_t(i)].data(), ids[i].constData(), kEntryIdSize);
    std::sort(packed.begin(), packed.end(), [](const auto &a, const auto &b) {
        return std::memcmp(a.data(), b.data(), kEntryIdSize) < 0; // bytewise, unsigned
    });
    Sha256 h;
    for (const auto &id : packed) {
        h.addData(QByteArrayView(id.data(), kEntryIdSize));
        h.addData("\n");
    }
    const Sha256::Digest d = h.result();
    return QByteArray(reinterpret_cast<const char *>(d.data()), d.size()).toHex();
}

QByteArray CohortShuffle::digestOfSorted(const QList<QByteArray> &sortedIds) {
    Sha256 h;
    for (const QByteArray &id : sortedIds) {
        h.addData(id);
        h.addData("\n");
    }
    const Sha256::Digest d = h.result();
    return QByteArray(reinterpret_cast<const char *>(d.data()), d.size()).toHex();
}

QByteArray CohortShuffle::shuffleSeed(QByteArrayView seed, qint64 saleId, qint64 cohortSize,
                                      QByteArrayView digestHex) {
    const QByteArray message = QByteArray(kScheme) + '\n' + QByteArray::number(saleId) + '\n'
                               + QByteArray::number(cohortSize) + '\n' + digestHex.toByteArray();
    return HmacSha256::hash(seed, message);
}

QList<QByteArray> CohortShuffle::rank(const QList<QByteArray> &ids, QByteArrayView shuffleSeed,
                                      int threads) {
    QList<QByteArray> ranked;
    ranked.reserve(ids.size());
    for (qint32 i : rankOrder(ids, shuffleSeed, threads))
        ranked.append(ids[i]);
    return ranked;
}

QList<qint32> CohortShuffle::rankOrder(const QList<QByteArray> &ids, QByteArrayView shuffleSeed,
                                       int threads) {
    const qsizetype n = ids.size();
    const HmacSha256 mac(shuffleSeed); // pads once; mac() is safe on many threads at once
    std::vector<Key> keys(static_cast<size_t>(n));
    const auto hashRange = [&](qsizetype from, qsizetype to) {
        for (qsizetype i = from; i < to; ++i) {
            keys[size_t(i)].mac = mac.digest(ids[i]);
            keys[size_t(i)].index = qint32(i);
        }
    };
    threads = int(std::clamp<qsizetype>(threads, 1, std::max<qsizetype>(1, n / 10000)));
    if (threads == 1) {
        hashRange(0, n);
    } else {
        std::vector<std::thread> pool;
        const qsizetype chunk = (n + threads - 1) / threads;
        for (int t = 1; t < threads; ++t)
            pool.emplace_back(hashRange, std::min(n, t * chunk), std::min(n, (t + 1) * chunk));
        hashRange(0, std::min(n, chunk));
        for (std::thread &t : pool)
            t.join();
    }
    std::sort(keys.begin(), keys.end(), [&](const Key &a, const Key &b) {
        const int c = std::memcmp(a.mac.data(), b.mac.data(), HmacSha256::kSize);
        return c != 0 ? c < 0 : ids[a.index] < ids[b.index];
    });
    QList<qint32> order;
    order.reserve(n);
    for (const Key &k : keys)
        order.append(k.index);
    return order;
}

CohortShuffle::Sealed CohortShuffle::seal(QByteArrayView seed, qint64 saleId,
                                          const QList<QByteArray> &ids, int threads) {
    Sealed s;
    s.digest = digest(ids);
    s.shuffleSeed = shuffleSeed(seed, saleId, ids.size(), s.digest);
    s.ranked = rank(ids, s.shuffleSeed, threads);
    return s;
}

} // namespace flashsale::fairness
