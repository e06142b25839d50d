#pragma once

#include <QtGlobal>

#include <vector>

namespace flashsale::bench {

// A latency histogram with a relative error below 0.05% (better than 3 significant digits) from
// 1 µs to about 38 hours, cheap enough to record every request on the client's hot path.
//
// Log-linear buckets: values below 2048 have a bucket each; above, every power of two
// [2^k, 2^(k+1)) is cut into 1024 equal buckets, so a bucket is never wider than 1/1024 of the
// values it holds and its midpoint is within 1/2048 of any of them.
//
//   index:  0 ........ 2047 | 2048 ..... 3071 | 3072 ..... 4095 | ...
//   value:  0 ........ 2047 | 2048 ..... 4094 | 4096 ..... 8188 | ...   (step 1, 2, 4, ...)
//
// Not thread-safe: each load thread records into its own and the results are merged.
class Histogram {
public:
    Histogram();

    // Records one value in microseconds; negative values count as 0, values beyond the range
    // as the largest bucket (the exact maximum is still kept).
    void record(qint64 us);
    // Adds another histogram's counts (threads' histograms into one).
    void merge(const Histogram &other);

    qint64 count() const { return m_count; }
    qint64 max() const { return m_max; }
    qint64 min() const { return m_count > 0 ? m_min : 0; }
    // The value at quantile q (0..1): the smallest recorded value v such that at least q of
    // the values are <= v, to within the bucket's precision; 0 when empty.
    double quantile(double q) const;
    double mean() const { return m_count > 0 ? double(m_sum) / double(m_count) : 0.0; }

    static constexpr qint64 kMaxValue = Q_INT64_C(1) << 37;

private:
    static int indexOf(qint64 v);
    static double midpointOf(int index);

    std::vector<qint64> m_counts;
    qint64 m_count = 0;
    qint64 m_sum = 0;
    qint64 m_max = 0;
    qint64 m_min = 0;
};

} // namespace flashsale::bench
