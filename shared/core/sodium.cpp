#include "sodium.h"

#include <QtGlobal>

#include <sodium.h>

namespace flashsale {

bool sodiumReady() {
    static const bool ready = sodium_init() >= 0;
    return ready;
}

void requireSodium(const char *forWhat) {
    if (!sodiumReady())
        qFatal("libsodium cannot be initialised (no entropy source?): %s", forWhat);
}

} // namespace flashsale
