#pragma once

#include <QString>

#include <expected>

namespace flashsale {

// Failure categories shared by every module. Callers branch on the code; the message is for
// logs and problem details only.
enum class ErrorCode {
    Unavailable, // a dependency (Redis, PostgreSQL) cannot be reached right now: retry later
    Timeout,     // a dependency did not answer in time
    Protocol,    // a dependency answered something this code does not understand
    Invalid,     // the caller's input is malformed
    NotFound,
    Conflict,
    Internal,
};

struct Error {
    ErrorCode code = ErrorCode::Internal;
    QString message;
};

template<typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(ErrorCode code, QString message) {
    return std::unexpected<Error>(Error{code, std::move(message)});
}

} // namespace flashsale
