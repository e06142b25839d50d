#include "bench.h"

#include <cstdio>

namespace flashsale::bench {

int runCheck(const QStringList &) {
    std::fprintf(stderr, "flashsale-bench check: not built yet\n");
    return 1;
}

} // namespace flashsale::bench
