#include "bench.h"

#include <cstdio>

namespace flashsale::bench {

int runLoad(const QStringList &) {
    std::fprintf(stderr, "flashsale-bench load: not built yet\n");
    return 1;
}

} // namespace flashsale::bench
