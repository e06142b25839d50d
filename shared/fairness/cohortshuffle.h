#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>
#include <QRandomGenerator>

// The waiting room's verifiable shuffle (docs/WAITING_ROOM.md, "Verifying the shuffle"). Pure
// functions over byte strings and lists: no I/O, no event loop, no shared state, so the sealer
// can run them on a worker thread (QtConcurrent::run) and flashsale-ctl, the console and the
// tests compute the very same bytes. tests/waitingroom/verify_reference.py is an independent
// Python implementation that must agree byte for byte:
//
//   seed          32 random bytes made at sale creation; secret until the seal
//   commitment    hex(SHA-256(seed))                       public from the lobby's opening
//   ids           cohort entry ids sorted bytewise ascending; N = count
//   digest        hex(SHA-256(ids[0] "\n" ids[1] "\n" ... ids[N-1] "\n"))
//   shuffle_seed  HMAC-SHA256(key = seed,
//                             "flashsale-waiting-room-v1\n" sale_id "\n" N "\n" digest)
//   rank(id)      1 + index when sorted by (HMAC-SHA256(key = shuffle_seed, id), id) ascending
//
// sale_id and N are decimal ASCII; digest is its 64 lowercase hex digits; hex() is lowercase.
// The publication shows seed and shuffle_seed as 64 lowercase hex digits of their 32 bytes.
namespace flashsale::fairness {

inline constexpr char kScheme[] = "flashsale-waiting-room-v1";
inline constexpr qsizetype kSeedSize = 32;
inline constexpr qsizetype kEntryIdSize = 16; // 12 random bytes, base64url

class CohortShuffle {
public:
    // What the seal fixes. `ranked` holds the entry ids in rank order (rank 1 first).
    struct Sealed {
        QByteArray digest;      // 64 lowercase hex digits
        QByteArray shuffleSeed; // 32 bytes
        QList<QByteArray> ranked;
    };

    // 16 characters of the base64url alphabet (A-Z a-z 0-9 - _): what the API mints.
    static bool isEntryId(QByteArrayView id);
    // A new entry id: 12 random bytes, base64url. From the system's CSPRNG unless a generator is
    // given (tests and benchmarks, for repeatable cohorts).
    static QByteArray newEntryId(QRandomGenerator &rng = *QRandomGenerator::system());
    // 64 lowercase hex digits (a commitment, a digest, a hex seed).
    static bool isHex64(QByteArrayView text);

    // hex(SHA-256(seed)).
    static QByteArray commitment(QByteArrayView seed);
    // hex(SHA-256) over the ids sorted bytewise, each followed by "\n". Sorts its own copy.
    static QByteArray digest(QList<QByteArray> ids);
    // The same over ids already sorted bytewise ascending.
    static QByteArray digestOfSorted(const QList<QByteArray> &sortedIds);
    // The 32-byte shuffle seed (digestHex as published: 64 hex digits).
    static QByteArray shuffleSeed(QByteArrayView seed, qint64 saleId, qint64 cohortSize,
                                  QByteArrayView digestHex);
    // The ids in rank order under `shuffleSeed` (32 bytes). With threads > 1 the keyed hashes
    // are split over that many threads (the sort stays on the caller's). Equal ids keep no
    // particular order between themselves; a cohort never has any.
    static QList<QByteArray> rank(const QList<QByteArray> &ids, QByteArrayView shuffleSeed,
                                  int threads = 1);
    // The same as input positions: element k is the index in `ids` of the id ranked k + 1.
    static QList<qint32> rankOrder(const QList<QByteArray> &ids, QByteArrayView shuffleSeed,
                                   int threads = 1);
    // All of the above: digest, shuffle seed and ranks of a cohort.
    static Sealed seal(QByteArrayView seed, qint64 saleId, const QList<QByteArray> &ids,
                       int threads = 1);
};

} // namespace flashsale::fairness
