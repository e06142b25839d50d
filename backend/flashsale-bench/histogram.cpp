#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace flashsale::bench {

namespace {

constexpr int kLinear = 2048; // values below this have one bucket each
constexpr int kSubBuckets = 1024;
constexpr int kLinearBits = 11; // bit width of kLinear - 1

} // namespace

Histogram::Histogram()
    : m_counts(size_t(indexOf(kMaxValue - 1)) + 1, 0) {}

int Histogram::indexOf(qint64 v) {
    if (v < kLinear)
        return int(v);
    // v has `width` bits; shifting right by (width - 11) leaves 11 bits: 1024..2047.
    const int shift = int(std::bit_width(quint64(v))) - kLinearBits;
    const int sub = int(v >> shift) - kSubBuckets;
    return kLinear + (shift - 1) * kSubBuckets + sub;
}

double Histogram::midpointOf(int index) {
    if (index < kLinear)
        return double(index);
    const int shift = (index - kLinear) / kSubBuckets + 1;
    const qint64 sub = (index - kLinear) % kSubBuckets + kSubBuckets;
    const qint64 low = sub << shift;
    const qint64 width = qint64(1) << shift;
    return double(low) + double(width - 1) / 2.0;
}

void Histogram::record(qint64 us) {
    us = std::max<qint64>(0, us);
    const qint64 clamped = std::min(us, kMaxValue - 1);
    ++m_counts[size_t(indexOf(clamped))];
    if (m_count == 0 || us < m_min)
        m_min = us;
    m_max = std::max(m_max, us);
    m_sum += us;
    ++m_count;
}

void Histogram::merge(const Histogram &other) {
    if (other.m_count == 0)
        return;
    for (size_t i = 0; i < m_counts.size(); ++i)
        m_counts[i] += other.m_counts[i];
    m_min = m_count == 0 ? other.m_min : std::min(m_min, other.m_min);
    m_max = std::max(m_max, other.m_max);
    m_sum += other.m_sum;
    m_count += other.m_count;
}

double Histogram::quantile(double q) const {
    if (m_count == 0)
        return 0.0;
    q = std::clamp(q, 0.0, 1.0);
    // The rank of the wanted value, 1-based: at least q of the values are at or below it.
    const qint64 rank = std::max<qint64>(1, qint64(std::ceil(q * double(m_count))));
    if (rank >= m_count)
        return double(m_max); // known exactly
    qint64 seen = 0;
    for (size_t i = 0; i < m_counts.size(); ++i) {
        seen += m_counts[i];
        if (seen >= rank) {
            // The ends are known exactly; a bucket's midpoint could lie outside them.
            return std::clamp(midpointOf(int(i)), double(m_min), double(m_max));
        }
    }
    return double(m_max);
}

} // namespace flashsale::bench
