#pragma once

#include <QThread>
#include <QtGlobal>

#include <functional>
#include <memory>

namespace flashsale {

// Checks, in debug builds, the contracts the headers promise; release builds (QT_NO_DEBUG) pay
// nothing for them.

// Wraps a callback that a contract promises to run exactly once. In debug builds a second call,
// or the last copy of the wrapper dying without a call, fails a Q_ASSERT naming `what`; in
// release builds it returns `callback` itself.
template<typename... Args>
std::function<void(Args...)> exactlyOnce(std::function<void(Args...)> callback,
                                         [[maybe_unused]] const char *what) {
#ifdef QT_NO_DEBUG
    return callback;
#else
    if (!callback)
        return callback;
    struct State {
        std::function<void(Args...)> callback;
        const char *what = nullptr;
        bool called = false;
        ~State() { Q_ASSERT_X(called, what, "callback dropped without being called"); }
    };
    // Built in place: a temporary State would assert as it dies.
    auto state = std::make_shared<State>();
    state->callback = std::move(callback);
    state->what = what;
    return [state](Args... args) {
        Q_ASSERT_X(!state->called, state->what, "callback called twice");
        state->called = true;
        state->callback(std::forward<Args>(args)...);
    };
#endif
}

// Asserts, in debug builds, that the caller runs on the thread that owns `object` (for classes
// whose every call must come from their own thread).
inline void assertOwnThread([[maybe_unused]] const QObject *object,
                            [[maybe_unused]] const char *what) {
    Q_ASSERT_X(object->thread() == QThread::currentThread(), what,
               "called from a thread other than the object's own");
}

} // namespace flashsale
