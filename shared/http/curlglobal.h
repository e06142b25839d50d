#pragma once

#include <curl/curl.h>

#include <mutex>

namespace flashsale {

// curl_global_init is not thread-safe: every user of libcurl (HttpClient, SmtpSender) calls this
// before its first worker thread exists, and it runs once per process.
inline void curlGlobalInit() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

} // namespace flashsale
