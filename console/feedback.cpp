#include "feedback.h"

#include "consoleformat.h"

#include <QMessageBox>
#include <QPushButton>

namespace flashsale::console {

void confirmThen(QWidget *parent, const QString &title, const QString &text,
                 std::function<void()> onYes, std::function<void()> onNo) {
    auto *box = new QMessageBox(QMessageBox::Question, title, text,
                                QMessageBox::Yes | QMessageBox::No, parent);
    box->setObjectName(QStringLiteral("confirmBox"));
    box->setDefaultButton(QMessageBox::No);
    box->setAttribute(Qt::WA_DeleteOnClose);
    QObject::connect(box, &QMessageBox::finished, box,
                     [box, onYes = std::move(onYes), onNo = std::move(onNo)](int) {
                         const bool yes = box->clickedButton() == box->button(QMessageBox::Yes);
                         if (yes && onYes)
                             onYes();
                         else if (!yes && onNo)
                             onNo();
                     });
    box->open();
}

void showOutcome(QWidget *parent, const QString &title, const QString &text,
                 const admin::AdminFailure *failure) {
    const bool forbidden = failure && failure->code == admin::AdminError::Forbidden;
    auto *box = new QMessageBox(
        failure ? QMessageBox::Warning : QMessageBox::Information, title,
        forbidden ? QObject::tr("%1\n\nNot allowed for your role: the server refused it. Ask an "
                                "operator with a higher role.")
                        .arg(text)
                  : text,
        QMessageBox::Ok, parent);
    box->setObjectName(QStringLiteral("outcomeBox"));
    if (failure) {
        box->setInformativeText(
            QStringLiteral("%1: %2").arg(admin::errorName(failure->code), failure->message));
        if (!failure->details.isEmpty())
            box->setDetailedText(formatFailure(*failure));
    }
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void showRefusal(QWidget *parent, const QString &title, const QString &text,
                 const QString &detail) {
    auto *box = new QMessageBox(QMessageBox::Warning, title, text, QMessageBox::Ok, parent);
    box->setObjectName(QStringLiteral("outcomeBox"));
    if (!detail.isEmpty())
        box->setInformativeText(detail);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

} // namespace flashsale::console
