#include "connectiondialog.h"

#include "consolesettings.h"

#include <QAction>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QStyle>
#include <QVBoxLayout>

namespace flashsale::console {

ConnectionDialog::ConnectionDialog(QWidget *parent)
    : QDialog(parent) {
    setWindowTitle(tr("Connect to a flash-sale server"));
    setObjectName(QStringLiteral("connectionDialog"));
    m_url = new QLineEdit(this);
    m_url->setObjectName(QStringLiteral("url"));
    m_url->setPlaceholderText(QStringLiteral("ws://127.0.0.1:8080/admin/v1/ws"));
    m_url->setToolTip(tr("The admin WebSocket (ws://host:port/admin/v1/ws) or the API's base URL "
                         "(http://host:port); the WebSocket URL is derived from it."));
    m_url->setMinimumWidth(380);
    m_urlError = new QLabel(this);
    m_urlError->setStyleSheet(QStringLiteral("color: #b00020"));
    m_urlError->setWordWrap(true);
    m_urlError->hide();
    m_token = new QLineEdit(this);
    m_token->setObjectName(QStringLiteral("token"));
    m_token->setEchoMode(QLineEdit::Password);
    m_token->setToolTip(tr("The server's FLASHSALE_ADMIN_TOKEN. It is remembered in this user's "
                           "settings file, in clear text."));
    QAction *reveal = m_token->addAction(style()->standardIcon(QStyle::SP_FileDialogInfoView),
                                         QLineEdit::TrailingPosition);
    reveal->setToolTip(tr("Show or hide the token"));
    connect(reveal, &QAction::triggered, this, [this] {
        m_token->setEchoMode(m_token->echoMode() == QLineEdit::Password ? QLineEdit::Normal
                                                                        : QLineEdit::Password);
    });
    m_actor = new QLineEdit(this);
    m_actor->setObjectName(QStringLiteral("actor"));
    m_actor->setToolTip(tr("Your name, written into the audit log with each change."));

    auto *form = new QFormLayout;
    form->addRow(tr("&Server:"), m_url);
    form->addRow(QString(), m_urlError);
    form->addRow(tr("Admin &token:"), m_token);
    form->addRow(tr("Your &name:"), m_actor);
    auto *note = new QLabel(tr("The URL, token and name are remembered for the next start."), this);
    note->setEnabled(false);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("&Connect"));
    connect(buttons, &QDialogButtonBox::accepted, this, &ConnectionDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &ConnectionDialog::reject);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(note);
    layout->addWidget(buttons);
}

void ConnectionDialog::setValues(const QString &url, const QString &token, const QString &actor) {
    m_url->setText(url);
    m_token->setText(token);
    m_actor->setText(actor);
}

QString ConnectionDialog::urlText() const {
    return m_url->text().trimmed();
}

QUrl ConnectionDialog::resolvedUrl() const {
    return m_resolved;
}

QString ConnectionDialog::token() const {
    return m_token->text().trimmed();
}

QString ConnectionDialog::actor() const {
    return m_actor->text().trimmed();
}

void ConnectionDialog::accept() {
    const auto url = ConsoleSettings::resolveAdminUrl(urlText());
    if (!url) {
        m_urlError->setText(url.error());
        m_urlError->show();
        m_url->setFocus();
        return;
    }
    m_urlError->hide();
    m_resolved = *url;
    QDialog::accept();
}

} // namespace flashsale::console
