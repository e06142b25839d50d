#include "httpclient.h"

#include "http/curlglobal.h"

#include <QLoggingCategory>
#include <QPointer>

#include <curl/curl.h>

#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <pthread.h>

namespace flashsale {

Q_LOGGING_CATEGORY(lcHttpClient, "flashsale.httpclient", QtInfoMsg)

QByteArray HttpResponse::header(QByteArrayView lowercaseName) const {
    for (const auto &[name, value] : headers)
        if (name == lowercaseName)
            return value;
    return {};
}

namespace {

// One request on the worker thread: its easy handle and everything the handle points into.
struct Job {
    quint64 id = 0;
    HttpRequest request;
    CURL *easy = nullptr;
    curl_slist *headers = nullptr;
    HttpResponse response;
    qsizetype maxBytes = 0;
    bool tooLarge = false;
    char error[CURL_ERROR_SIZE] = {};

    ~Job() {
        if (easy)
            curl_easy_cleanup(easy);
        curl_slist_free_all(headers);
    }
};

size_t writeBody(char *data, size_t size, size_t count, void *user) {
    auto *job = static_cast<Job *>(user);
    const size_t n = size * count;
    if (job->response.body.size() + qsizetype(n) > job->maxBytes) {
        job->tooLarge = true;
        return 0; // CURLE_WRITE_ERROR: stop reading
    }
    job->response.body.append(data, qsizetype(n));
    return n;
}

size_t writeHeader(char *data, size_t size, size_t count, void *user) {
    auto *job = static_cast<Job *>(user);
    const size_t n = size * count;
    const QByteArray line = QByteArray(data, qsizetype(n)).trimmed();
    if (line.startsWith("HTTP/")) {
        job->response.headers.clear(); // a new response (after 100 Continue): its headers only
    } else if (const qsizetype colon = line.indexOf(':'); colon > 0) {
        if (job->response.headers.size() < 200) // a hostile server's headers are bounded too
            job->response.headers.append(
                {line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed()});
    }
    return n;
}

Error errorFor(const Job &job, CURLcode code) {
    const QString detail =
        job.error[0] ? QString::fromUtf8(job.error) : QString::fromUtf8(curl_easy_strerror(code));
    const QString what = QStringLiteral("%1 %2: %3")
                             .arg(QString::fromLatin1(job.request.method),
                                  QString::fromUtf8(job.request.url), detail);
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
        return {ErrorCode::Timeout, what};
    case CURLE_WRITE_ERROR:
        if (job.tooLarge)
            return {ErrorCode::Protocol,
                    QStringLiteral("%1 %2: the response is larger than %3 bytes")
                        .arg(QString::fromLatin1(job.request.method),
                             QString::fromUtf8(job.request.url))
                        .arg(job.maxBytes)};
        return {ErrorCode::Unavailable, what};
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return {ErrorCode::Invalid, what};
    case CURLE_WEIRD_SERVER_REPLY:
        return {ErrorCode::Protocol, what};
    default:
        return {ErrorCode::Unavailable, what};
    }
}

} // namespace

// The curl multi handle and its thread. Requests come in through a queue under a mutex (the
// thread is woken with curl_multi_wakeup); answers go back to the client's thread as queued
// calls on the client object, so they are dropped if the client is gone.
class HttpClient::Worker {
public:
    Worker(HttpClient *client, const Options &options)
        : m_client(client)
        , m_options(options) {
        curlGlobalInit();
        m_multi = curl_multi_init();
        curl_multi_setopt(m_multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          long(options.maxConnectionsPerHost));
        curl_multi_setopt(m_multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, long(options.maxConnections));
        curl_multi_setopt(m_multi, CURLMOPT_MAXCONNECTS, long(options.maxConnections));
        m_thread = std::thread([this] { run(); });
    }

    ~Worker() {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        curl_multi_wakeup(m_multi);
        m_thread.join();
        for (auto &[easy, job] : m_running) {
            curl_multi_remove_handle(m_multi, easy);
            delete job;
        }
        curl_multi_cleanup(m_multi);
    }

    void submit(quint64 id, HttpRequest request) {
        {
            std::lock_guard lock(m_mutex);
            m_queue.push_back({id, std::move(request)});
        }
        curl_multi_wakeup(m_multi);
    }

private:
    void run() {
        pthread_setname_np(pthread_self(), m_options.name.left(15).toLocal8Bit().constData());
        while (true) {
            std::deque<std::pair<quint64, HttpRequest>> incoming;
            {
                std::lock_guard lock(m_mutex);
                if (m_stop)
                    return;
                incoming.swap(m_queue);
            }
            for (auto &[id, request] : incoming)
                start(id, std::move(request));
            int running = 0;
            curl_multi_perform(m_multi, &running);
            int left = 0;
            while (CURLMsg *msg = curl_multi_info_read(m_multi, &left)) {
                if (msg->msg == CURLMSG_DONE)
                    finish(msg->easy_handle, msg->data.result);
            }
            curl_multi_poll(m_multi, nullptr, 0, 1000, nullptr);
        }
    }

    void start(quint64 id, HttpRequest request) {
        auto *job = new Job;
        job->id = id;
        job->request = std::move(request);
        job->maxBytes = m_options.maxResponseBytes;
        CURL *e = curl_easy_init();
        job->easy = e;
        const HttpRequest &r = job->request;
        curl_easy_setopt(e, CURLOPT_URL, r.url.constData());
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, long(r.timeout.count()));
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, long(r.timeout.count()));
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, job->error);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, writeBody);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, job);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, writeHeader);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, job);
        curl_easy_setopt(e, CURLOPT_PRIVATE, job);
        if (!m_options.caFile.isEmpty())
            curl_easy_setopt(e, CURLOPT_CAINFO, m_options.caFile.toLocal8Bit().constData());
        if (!m_options.verifyPeer) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (r.method == "GET") {
            curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        } else {
            if (r.method == "HEAD")
                curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
            else
                curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.constData());
            if (!r.body.isEmpty() || r.method == "POST" || r.method == "PUT") {
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.constData());
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(r.body.size()));
            }
        }
        for (const auto &[name, value] : r.headers)
            job->headers = curl_slist_append(job->headers, (name + ": " + value).constData());
        // No "Expect: 100-continue" round trip before a body: the servers here answer at once.
        job->headers = curl_slist_append(job->headers, "Expect:");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->headers);
        curl_multi_add_handle(m_multi, e);
        m_running.insert({e, job});
    }

    void finish(CURL *easy, CURLcode code) {
        const auto it = m_running.find(easy);
        if (it == m_running.end())
            return;
        Job *job = it->second;
        m_running.erase(it);
        curl_multi_remove_handle(m_multi, easy); // its connection stays in the multi's cache
        Result<HttpResponse> result;
        if (code == CURLE_OK) {
            long status = 0;
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
            job->response.status = int(status);
            result = std::move(job->response);
        } else {
            result = std::unexpected(errorFor(*job, code));
        }
        const quint64 id = job->id;
        delete job;
        QMetaObject::invokeMethod(
            m_client,
            [client = m_client, id, result = std::move(result)]() mutable {
                client->deliver(id, std::move(result));
            },
            Qt::QueuedConnection);
    }

    HttpClient *m_client;
    const Options m_options;
    CURLM *m_multi = nullptr;
    std::thread m_thread;
    std::mutex m_mutex;
    std::deque<std::pair<quint64, HttpRequest>> m_queue; // under m_mutex
    bool m_stop = false;                                 // under m_mutex
    std::unordered_map<CURL *, Job *> m_running;         // the worker thread's only
};

HttpClient::HttpClient(Options options, QObject *parent)
    : QObject(parent)
    , m_options(std::move(options))
    , m_worker(std::make_unique<Worker>(this, m_options)) {}

HttpClient::~HttpClient() {
    m_worker.reset(); // joins the thread: no answer is posted after this
}

void HttpClient::send(HttpRequest request, std::function<void(const Result<HttpResponse> &)> done) {
    const quint64 id = m_nextId++;
    m_pending.insert(id, std::move(done));
    ++m_inFlight;
    m_worker->submit(id, std::move(request));
}

void HttpClient::deliver(quint64 id, Result<HttpResponse> result) {
    auto done = m_pending.take(id);
    if (!done)
        return;
    --m_inFlight;
    done(result);
}

} // namespace flashsale
