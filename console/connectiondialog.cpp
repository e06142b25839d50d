#include "connectiondialog.h"

#include <QAction>
#include <QButtonGroup>
#include <QCheckBox>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSslCertificate>
#include <QStyle>
#include <QVBoxLayout>

namespace flashsale::console {

namespace {

QLabel *errorLabel(QWidget *parent, const QString &name) {
    auto *label = new QLabel(parent);
    label->setObjectName(name);
    label->setStyleSheet(QStringLiteral("color: #b00020"));
    label->setWordWrap(true);
    label->hide();
    return label;
}

QLineEdit *secretField(QWidget *parent, const QString &name, const QString &what) {
    auto *field = new QLineEdit(parent);
    field->setObjectName(name);
    field->setEchoMode(QLineEdit::Password);
    QAction *reveal = field->addAction(parent->style()->standardIcon(QStyle::SP_FileDialogInfoView),
                                       QLineEdit::TrailingPosition);
    reveal->setToolTip(QObject::tr("Show or hide the %1").arg(what));
    QObject::connect(reveal, &QAction::triggered, field, [field] {
        field->setEchoMode(field->echoMode() == QLineEdit::Password ? QLineEdit::Normal
                                                                    : QLineEdit::Password);
    });
    return field;
}

} // namespace

ConnectionDialog::ConnectionDialog(QWidget *parent)
    : QDialog(parent) {
    setWindowTitle(tr("Log in to a flash-sale server"));
    setObjectName(QStringLiteral("connectionDialog"));
    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("message"));
    m_message->setWordWrap(true);
    m_message->hide();

    m_url = new QLineEdit(this);
    m_url->setObjectName(QStringLiteral("url"));
    m_url->setPlaceholderText(QStringLiteral("wss://shop.example:443/admin/v1/ws"));
    m_url->setToolTip(tr("The admin WebSocket (wss://host:port/admin/v1/ws) or the API's base URL "
                         "(https://host:port); the WebSocket URL is derived from it. Plain ws:// "
                         "and http:// are accepted for this computer (loopback) only."));
    m_url->setMinimumWidth(420);
    m_urlError = errorLabel(this, QStringLiteral("urlError"));

    m_asOperator = new QRadioButton(tr("&Operator account"), this);
    m_asOperator->setObjectName(QStringLiteral("asOperator"));
    m_asOperator->setToolTip(tr("Your own name and password, created with flashsale-ctl "
                                "operator add. The server names you in the audit log and allows "
                                "what your role allows."));
    m_asBootstrap = new QRadioButton(tr("&Bootstrap admin token"), this);
    m_asBootstrap->setObjectName(QStringLiteral("asBootstrap"));
    m_asBootstrap->setToolTip(tr("The server's FLASHSALE_ADMIN_TOKEN: acts as operator "
                                 "\"bootstrap\" with the admin role. Meant for creating the "
                                 "first operator accounts."));
    auto *modes = new QButtonGroup(this);
    modes->addButton(m_asOperator);
    modes->addButton(m_asBootstrap);
    m_asOperator->setChecked(true);
    auto *modeRow = new QHBoxLayout;
    modeRow->addWidget(m_asOperator);
    modeRow->addWidget(m_asBootstrap);
    modeRow->addStretch(1);

    m_operator = new QLineEdit(this);
    m_operator->setObjectName(QStringLiteral("operator"));
    m_operator->setToolTip(tr("Your operator name (lower-case letters, digits, '.', '_', '-')."));
    m_password = secretField(this, QStringLiteral("password"), tr("password"));
    m_token = secretField(this, QStringLiteral("token"), tr("token"));
    m_credentialError = errorLabel(this, QStringLiteral("credentialError"));

    m_caFile = new QLineEdit(this);
    m_caFile->setObjectName(QStringLiteral("caFile"));
    m_caFile->setPlaceholderText(tr("system certificates only"));
    m_caFile->setToolTip(tr("A PEM file of CA certificates to trust for wss:// besides the "
                            "system's, such as the local stack's .flashsale/tls/ca.crt."));
    m_browse = new QPushButton(tr("Bro&wse…"), this);
    m_browse->setObjectName(QStringLiteral("browseCaFile"));
    connect(m_browse, &QPushButton::clicked, this, &ConnectionDialog::browseCaFile);
    auto *caRow = new QHBoxLayout;
    caRow->addWidget(m_caFile, 1);
    caRow->addWidget(m_browse);
    m_caError = errorLabel(this, QStringLiteral("caError"));

    m_remember = new QCheckBox(tr("&Remember the password in the system keychain"), this);
    m_remember->setObjectName(QStringLiteral("remember"));
    m_remember->setChecked(true);
    m_remember->setToolTip(tr("Stored only after the server accepts it, and only in the OS "
                              "keychain (Secret Service, Keychain, Credential Manager); never in "
                              "the settings file. Without a keychain it is asked for each start."));

    auto *form = new QFormLayout;
    form->addRow(tr("&Server:"), m_url);
    form->addRow(QString(), m_urlError);
    form->addRow(tr("Log in with:"), modeRow);
    m_operatorLabel = new QLabel(tr("Operator &name:"), this);
    m_operatorLabel->setBuddy(m_operator);
    form->addRow(m_operatorLabel, m_operator);
    m_passwordLabel = new QLabel(tr("&Password:"), this);
    m_passwordLabel->setBuddy(m_password);
    form->addRow(m_passwordLabel, m_password);
    m_tokenLabel = new QLabel(tr("Admin &token:"), this);
    m_tokenLabel->setBuddy(m_token);
    form->addRow(m_tokenLabel, m_token);
    form->addRow(QString(), m_credentialError);
    auto *caLabel = new QLabel(tr("&CA file (wss://):"), this);
    caLabel->setBuddy(m_caFile);
    form->addRow(caLabel, caRow);
    form->addRow(QString(), m_caError);
    form->addRow(QString(), m_remember);
    auto *note = new QLabel(tr("The server, name and CA file are remembered in the settings "
                               "file; the password or token never is."),
                            this);
    note->setWordWrap(true);
    note->setEnabled(false);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("&Log in"));
    connect(buttons, &QDialogButtonBox::accepted, this, &ConnectionDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &ConnectionDialog::reject);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_message);
    layout->addLayout(form);
    layout->addWidget(note);
    layout->addWidget(buttons);

    connect(m_asOperator, &QRadioButton::toggled, this, &ConnectionDialog::updateMode);
    updateMode();
}

void ConnectionDialog::updateMode() {
    const bool op = m_asOperator->isChecked();
    m_operatorLabel->setVisible(op);
    m_operator->setVisible(op);
    m_passwordLabel->setVisible(op);
    m_password->setVisible(op);
    m_tokenLabel->setVisible(!op);
    m_token->setVisible(!op);
    m_remember->setText(op ? tr("&Remember the password in the system keychain")
                           : tr("&Remember the token in the system keychain"));
    m_credentialError->hide();
}

void ConnectionDialog::browseCaFile() {
    auto *files = new QFileDialog(this, tr("CA certificates (PEM)"),
                                  QFileInfo(m_caFile->text()).absolutePath(),
                                  tr("PEM certificates (*.pem *.crt);;All files (*)"));
    files->setAttribute(Qt::WA_DeleteOnClose);
    files->setFileMode(QFileDialog::ExistingFile);
    connect(files, &QFileDialog::fileSelected, this,
            [this](const QString &path) { m_caFile->setText(path); });
    files->open();
}

void ConnectionDialog::setValues(const ConsoleSettings &s, const QString &secret) {
    m_url->setText(s.url);
    m_operator->setText(s.operatorName);
    (s.bootstrap ? m_asBootstrap : m_asOperator)->setChecked(true);
    (s.bootstrap ? m_token : m_password)->setText(secret);
    (s.bootstrap ? m_password : m_token)->clear();
    m_caFile->setText(s.caFile);
    updateMode();
    if (m_url->text().isEmpty())
        m_url->setFocus();
    else if (!s.bootstrap && m_operator->text().isEmpty())
        m_operator->setFocus();
    else
        (s.bootstrap ? m_token : m_password)->setFocus();
}

void ConnectionDialog::setMessage(const QString &text, bool error) {
    m_message->setText(text);
    m_message->setStyleSheet(error ? QStringLiteral("color: #b00020; font-weight: bold")
                                   : QString());
    m_message->setVisible(!text.isEmpty());
}

QString ConnectionDialog::urlText() const {
    return m_url->text().trimmed();
}

QUrl ConnectionDialog::resolvedUrl() const {
    return m_resolved;
}

bool ConnectionDialog::bootstrap() const {
    return m_asBootstrap->isChecked();
}

QString ConnectionDialog::operatorName() const {
    return bootstrap() ? QString() : m_operator->text().trimmed();
}

QString ConnectionDialog::secret() const {
    // A password may begin or end with a space; a pasted token should not.
    return bootstrap() ? m_token->text().trimmed() : m_password->text();
}

QString ConnectionDialog::caFile() const {
    return m_caFile->text().trimmed();
}

bool ConnectionDialog::remember() const {
    return m_remember->isChecked();
}

ConsoleSettings ConnectionDialog::applyTo(ConsoleSettings base) const {
    base.url = urlText();
    base.bootstrap = bootstrap();
    if (!base.bootstrap) // the last operator's name stays for when bootstrap mode is left again
        base.operatorName = operatorName();
    base.caFile = caFile();
    return base;
}

bool ConnectionDialog::refuse(QLabel *label, QLineEdit *field, const QString &text) {
    label->setText(text);
    label->show();
    field->setFocus();
    return false;
}

void ConnectionDialog::accept() {
    for (QLabel *l : {m_urlError, m_credentialError, m_caError})
        l->hide();
    const auto url = ConsoleSettings::resolveAdminUrl(urlText());
    if (!url) {
        refuse(m_urlError, m_url, url.error());
        return;
    }
    if (!bootstrap() && operatorName().isEmpty()) {
        refuse(m_credentialError, m_operator, tr("Enter your operator name."));
        return;
    }
    if (secret().isEmpty()) {
        refuse(m_credentialError, bootstrap() ? m_token : m_password,
               bootstrap() ? tr("Enter the admin token.") : tr("Enter your password."));
        return;
    }
    if (!caFile().isEmpty()) {
        const QFileInfo info(caFile());
        if (!info.isFile() || !info.isReadable()) {
            refuse(m_caError, m_caFile, tr("No readable file at %1.").arg(caFile()));
            return;
        }
        if (QSslCertificate::fromPath(caFile(), QSsl::Pem).isEmpty()) {
            refuse(m_caError, m_caFile, tr("%1 holds no PEM certificate.").arg(caFile()));
            return;
        }
    }
    m_resolved = *url;
    QDialog::accept();
}

} // namespace flashsale::console
