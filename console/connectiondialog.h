#pragma once

#include <QDialog>
#include <QUrl>

class QLabel;
class QLineEdit;

namespace flashsale::console {

// Asks for the server (a ws://…/admin/v1/ws URL or an http:// API base URL), the admin token
// and the operator's name. OK is refused while the URL cannot be resolved; the error shows
// under the field. The caller saves the values (ConsoleSettings) when it is accepted.
class ConnectionDialog final : public QDialog {
    Q_OBJECT
public:
    explicit ConnectionDialog(QWidget *parent = nullptr);

    void setValues(const QString &url, const QString &token, const QString &actor);
    QString urlText() const;
    QUrl resolvedUrl() const; // valid only after accept
    QString token() const;
    QString actor() const;

    void accept() override;

private:
    QLineEdit *m_url = nullptr;
    QLineEdit *m_token = nullptr;
    QLineEdit *m_actor = nullptr;
    QLabel *m_urlError = nullptr;
    QUrl m_resolved;
};

} // namespace flashsale::console
