#pragma once

#include "consolesettings.h"

#include <QDialog>
#include <QUrl>

class QCheckBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QRadioButton;

namespace flashsale::console {

// Asks how to log in: the server (a ws(s)://…/admin/v1/ws URL or an http(s):// API base URL),
// the operator's name and password, or (bootstrap mode) the server's admin token, and an
// optional CA file trusted for wss://.
//
// OK is refused, with the reason under the field, while the URL cannot be resolved, the name,
// password or token is empty, or the CA file holds no PEM certificate. The caller reads the
// values once it is accepted, saves the non-secret ones (ConsoleSettings) and hands the secret to
// the keychain; the dialog itself stores nothing. Open it with open(), never exec(). GUI thread.
class ConnectionDialog final : public QDialog {
    Q_OBJECT
public:
    explicit ConnectionDialog(QWidget *parent = nullptr);

    // Fills the fields; `secret` goes to the password or the token field, by `s.bootstrap`.
    void setValues(const ConsoleSettings &s, const QString &secret);
    // A line at the top saying why the dialog is shown ("The server refused …"), in red when
    // `error`; empty hides it.
    void setMessage(const QString &text, bool error = true);

    QString urlText() const;
    QUrl resolvedUrl() const; // valid only after accept
    bool bootstrap() const;
    QString operatorName() const; // empty in bootstrap mode
    QString secret() const;       // the password, or the token in bootstrap mode
    QString caFile() const;
    bool remember() const; // store the secret in the OS keychain after a successful login
    // The settings as they are in the dialog (the secret excluded), on top of `base`.
    ConsoleSettings applyTo(ConsoleSettings base) const;

    void accept() override;

private:
    void updateMode();
    void browseCaFile();
    bool refuse(QLabel *label, QLineEdit *field, const QString &text);

    QLabel *m_message = nullptr;
    QLineEdit *m_url = nullptr;
    QLabel *m_urlError = nullptr;
    QRadioButton *m_asOperator = nullptr;
    QRadioButton *m_asBootstrap = nullptr;
    QLabel *m_operatorLabel = nullptr;
    QLineEdit *m_operator = nullptr;
    QLabel *m_passwordLabel = nullptr;
    QLineEdit *m_password = nullptr;
    QLabel *m_tokenLabel = nullptr;
    QLineEdit *m_token = nullptr;
    QLabel *m_credentialError = nullptr;
    QLineEdit *m_caFile = nullptr;
    QPushButton *m_browse = nullptr;
    QLabel *m_caError = nullptr;
    QCheckBox *m_remember = nullptr;
    QUrl m_resolved;
};

} // namespace flashsale::console
