#pragma once

#include "protocol/adminprotocol.h"

#include <QString>
#include <QWidget>

#include <functional>

// Message boxes that never block the event loop: each is opened with QMessageBox::open() (window
// modal) and deletes itself when closed. Object names let tests find and answer them:
// "confirmBox" for a question, "outcomeBox" for an answer.
namespace flashsale::console {

// Asks "title / text" with Yes and No (No is the default); calls `onYes` if Yes is chosen, else
// `onNo` (closing the box counts as No).
void confirmThen(QWidget *parent, const QString &title, const QString &text,
                 std::function<void()> onYes, std::function<void()> onNo = {});
// Shows the server's answer: information when `failure` is null, else a warning with the typed
// error (code, message, details); a `forbidden` one says plainly that the role does not allow it.
void showOutcome(QWidget *parent, const QString &title, const QString &text,
                 const admin::AdminFailure *failure = nullptr);
// Shows an answer the server gave without an error that still means "not done" (a replay the
// server refused, with its reason as `detail`): a warning, "outcomeBox" like showOutcome.
void showRefusal(QWidget *parent, const QString &title, const QString &text,
                 const QString &detail = {});

} // namespace flashsale::console
