#include "feedback.h"

#include "consoleformat.h"

#include <QMessageBox>
#include <QPushButton>

namespace flashsale::console {

void confirmThen(QWidget *parent, const QString &title, const QString &text,
                 std::function<void()> onYes) {
    auto *box = new QMessageBox(QMessageBox::Question, title, text,
                                QMessageBox::Yes | QMessageBox::No, parent);
    box->setObjectName(QStringLiteral("confirmBox"));
    box->setDefaultButton(QMessageBox::No);
    box->setAttribute(Qt::WA_DeleteOnClose);
    QObject::connect(box, &QMessageBox::finished, box, [box, onYes = std::move(onYes)](int) {
        if (box->clickedButton() == box->button(QMessageBox::Yes) && onYes)
            onYes();
    });
    box->open();
}

void showOutcome(QWidget *parent, const QString &title, const QString &text,
                 const admin::AdminFailure *failure) {
    auto *box = new QMessageBox(failure ? QMessageBox::Warning : QMessageBox::Information, title,
                                text, QMessageBox::Ok, parent);
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

} // namespace flashsale::console
