#include "waitingroompanel.h"

#include "consoleformat.h"
#include "feedback.h"
#include "protocol/adminclient.h"
#include "rolegate.h"

#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>

#include <cmath>

namespace flashsale::console {

using admin::AdminClient;
using admin::Op;

namespace {

// Read once a second while shown, as flashsale-ctl queue --watch does.
constexpr int kRefreshMs = 1000;

QString count(const QJsonValue &v) {
    return v.isDouble() ? QLocale::system().toString(qint64(v.toDouble())) : QStringLiteral("–");
}

QString duration(const QJsonValue &v) {
    if (!v.isDouble())
        return QObject::tr("– (no measured rate yet)");
    const qint64 t = qint64(std::llround(v.toDouble()));
    if (t < 60)
        return QObject::tr("~%1 s").arg(t);
    if (t < 3600)
        return QObject::tr("~%1 min %2 s").arg(t / 60).arg(t % 60);
    return QObject::tr("~%1 h %2 min").arg(t / 3600).arg(t / 60 % 60);
}

} // namespace

WaitingRoomPanel::WaitingRoomPanel(AdminClient *client, QWidget *parent)
    : QWidget(parent)
    , m_client(client) {
    setObjectName(QStringLiteral("waitingRoomPanel"));
    m_timer = new QTimer(this);
    m_timer->setInterval(kRefreshMs);
    connect(m_timer, &QTimer::timeout, this, &WaitingRoomPanel::refresh);

    m_message = new QLabel(tr("Select a sale."));
    m_message->setObjectName(QStringLiteral("waitingRoomMessage"));
    m_message->setWordWrap(true);

    m_body = new QWidget;
    auto *grid = new QGridLayout;
    const QList<std::pair<QString, QString>> fields{
        {QStringLiteral("state"), tr("Admission")},
        {QStringLiteral("lobby"), tr("Lobby / cohort entries")},
        {QStringLiteral("cohort_size"), tr("Cohort size (sealed)")},
        {QStringLiteral("fifo"), tr("Behind the cohort (FIFO)")},
        {QStringLiteral("cursor"), tr("Cursor (admitted in line order)")},
        {QStringLiteral("waiting"), tr("Still waiting")},
        {QStringLiteral("admitted_per_minute"), tr("Admitted per minute (measured / set)")},
        {QStringLiteral("outstanding"), tr("Admitted, not booked yet")},
        {QStringLiteral("booked"), tr("Booked")},
        {QStringLiteral("noshows"), tr("No-shows")},
        {QStringLiteral("remaining"), tr("Units remaining")},
        {QStringLiteral("sell_out"), tr("Time to sell-out (estimate)")},
    };
    for (int i = 0; i < fields.size(); ++i) {
        auto *name = new QLabel(fields[i].second + QLatin1Char(':'));
        auto *value = new QLabel(QStringLiteral("–"));
        value->setObjectName(QStringLiteral("wr_") + fields[i].first);
        value->setTextInteractionFlags(Qt::TextSelectableByMouse);
        QFont f = value->font();
        f.setPointSizeF(f.pointSizeF() * 1.3);
        f.setBold(true);
        value->setFont(f);
        m_fields.insert(fields[i].first, value);
        const int row = i / 2, col = (i % 2) * 2;
        grid->addWidget(name, row, col, Qt::AlignRight);
        grid->addWidget(value, row, col + 1, Qt::AlignLeft);
    }
    m_fields.value(QStringLiteral("sell_out"))
        ->setToolTip(tr("Units remaining divided by the measured admission rate: it assumes every "
                        "admitted buyer books; no-shows make it later, a new rate changes it."));
    grid->setColumnStretch(1, 1);
    grid->setColumnStretch(3, 1);
    grid->setHorizontalSpacing(12);
    grid->setVerticalSpacing(8);

    m_pause = new QPushButton(tr("&Pause admission…"));
    m_pause->setObjectName(QStringLiteral("waitingRoomPause"));
    m_pause->setToolTip(tr("Stop (or restart) letting the line in; the sale itself stays open. "
                           "Audited."));
    connect(m_pause, &QPushButton::clicked, this, &WaitingRoomPanel::togglePause);
    m_rate = new QSpinBox;
    m_rate->setObjectName(QStringLiteral("waitingRoomRate"));
    m_rate->setRange(1, 1000000);
    m_rate->setSuffix(tr(" / min"));
    m_rate->setToolTip(tr("Buyers admitted per minute, 1 to 1,000,000"));
    m_setRate = new QPushButton(tr("Set &rate…"));
    m_setRate->setObjectName(QStringLiteral("waitingRoomSetRate"));
    m_setRate->setToolTip(tr("Change the admission rate. Audited."));
    connect(m_setRate, &QPushButton::clicked, this, &WaitingRoomPanel::applyRate);
    auto *bar = new QHBoxLayout;
    bar->addWidget(m_pause);
    bar->addSpacing(24);
    bar->addWidget(new QLabel(tr("Rate:")));
    bar->addWidget(m_rate);
    bar->addWidget(m_setRate);
    bar->addStretch(1);

    auto *bodyLayout = new QVBoxLayout(m_body);
    bodyLayout->setContentsMargins(0, 0, 0, 0);
    bodyLayout->addLayout(bar);
    bodyLayout->addSpacing(8);
    bodyLayout->addLayout(grid);
    bodyLayout->addStretch(1);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_message);
    layout->addWidget(m_body, 1);
    m_body->hide();
    updateButtons();
}

void WaitingRoomPanel::setGate(RoleGate *gate) {
    m_gate = gate;
    if (gate) {
        gate->bind(m_pause, Op::SaleWaitingRoomSet);
        gate->bind(m_setRate, Op::SaleWaitingRoomSet);
        connect(gate, &RoleGate::changed, this, &WaitingRoomPanel::updateButtons);
    }
    updateButtons();
}

QLabel *WaitingRoomPanel::field(const QString &name) const {
    return m_fields.value(name);
}

void WaitingRoomPanel::setSale(const QJsonObject &sale) {
    const qint64 id = sale.value(QStringLiteral("id")).toInteger();
    const bool hasRoom = sale.value(QStringLiteral("waiting_room")).isObject();
    const bool changed = id != m_saleId;
    m_saleId = id;
    m_hasRoom = hasRoom;
    if (changed) {
        m_view = {};
        m_inFlight = false;
        const QJsonValue pm =
            sale.value(QStringLiteral("waiting_room")).toObject().value("admit_per_minute");
        if (pm.isDouble())
            m_rate->setValue(int(pm.toDouble()));
    }
    if (!id) {
        showMessage(tr("Select a sale."));
    } else if (!hasRoom) {
        showMessage(tr("Sale %1 has no waiting room: it books first come, first served.").arg(id));
    } else if (changed) {
        showMessage(tr("Reading the waiting room of sale %1…").arg(id));
        refresh();
    }
    if (hasRoom && isVisible())
        m_timer->start();
    else
        m_timer->stop();
    updateButtons();
}

void WaitingRoomPanel::showEvent(QShowEvent *event) {
    QWidget::showEvent(event);
    if (m_hasRoom) {
        refresh();
        m_timer->start();
    }
}

void WaitingRoomPanel::hideEvent(QHideEvent *event) {
    QWidget::hideEvent(event);
    m_timer->stop();
}

void WaitingRoomPanel::refresh() {
    if (!m_client || !m_saleId || !m_hasRoom || m_inFlight
        || m_client->state() != AdminClient::State::Connected)
        return;
    m_inFlight = true;
    const qint64 id = m_saleId;
    m_client->request(Op::SaleWaitingRoomGet, {{QStringLiteral("sale_id"), id}},
                      [self = QPointer(this), id](const AdminClient::Reply &r) {
                          if (!self || id != self->m_saleId)
                              return;
                          self->m_inFlight = false;
                          if (!r.ok) {
                              self->m_view = {};
                              self->showMessage(r.failure.code == admin::AdminError::Conflict
                                                    ? tr("Sale %1's waiting room is not open yet "
                                                         "(the sale is not warmed): %2")
                                                          .arg(id)
                                                          .arg(r.failure.message)
                                                    : formatFailure(r.failure));
                              self->updateButtons();
                              return;
                          }
                          self->showView(r.result.value(QStringLiteral("waiting_room")).toObject());
                      });
}

void WaitingRoomPanel::showMessage(const QString &text) {
    m_message->setText(text);
    m_message->show();
    m_body->setVisible(!m_view.isEmpty());
}

void WaitingRoomPanel::showView(const QJsonObject &v) {
    const bool first = m_view.isEmpty();
    m_view = v;
    const bool sealed = v.value(QStringLiteral("sealed")).toBool();
    const bool paused = v.value(QStringLiteral("paused")).toBool();
    QString state = v.value(QStringLiteral("sold_out")).toBool() ? tr("sold out")
                    : paused                                     ? tr("PAUSED")
                    : sealed                                     ? tr("admitting")
                                                                 : tr("lobby open, not sealed");
    if (v.value(QStringLiteral("sale_state")).toString() != QLatin1String("active"))
        state += tr(" (sale %1)").arg(v.value(QStringLiteral("sale_state")).toString());
    auto set = [this](const char *name, const QString &text) {
        m_fields.value(QLatin1String(name))->setText(text);
    };
    set("state", state);
    m_fields.value(QStringLiteral("state"))
        ->setStyleSheet(paused ? QStringLiteral("color: #b03a00") : QString());
    set("lobby", count(v.value(QStringLiteral("lobby"))));
    set("cohort_size",
        sealed ? count(v.value(QStringLiteral("cohort_size"))) : tr("– (not sealed)"));
    set("fifo", count(v.value(QStringLiteral("fifo"))));
    set("cursor", count(v.value(QStringLiteral("cursor"))));
    set("waiting", count(v.value(QStringLiteral("waiting"))));
    const QJsonValue measured = v.value(QStringLiteral("admitted_per_minute"));
    set("admitted_per_minute",
        tr("%1 / %2").arg(measured.isDouble() ? QString::number(measured.toDouble(), 'f', 1)
                                              : QStringLiteral("–"),
                          count(v.value(QStringLiteral("admit_per_minute")))));
    set("outstanding", count(v.value(QStringLiteral("outstanding"))));
    set("booked", count(v.value(QStringLiteral("booked"))));
    set("noshows", count(v.value(QStringLiteral("noshows"))));
    set("remaining", count(v.value(QStringLiteral("remaining"))));
    set("sell_out", paused ? tr("– (admission paused)")
                           : duration(v.value(QStringLiteral("sell_out_seconds"))));
    if (first)
        m_rate->setValue(int(v.value(QStringLiteral("admit_per_minute")).toDouble()));
    m_message->hide();
    m_body->show();
    updateButtons();
}

void WaitingRoomPanel::updateButtons() {
    const bool connected = m_client && m_client->state() == AdminClient::State::Connected;
    const bool ready = connected && m_hasRoom && !m_view.isEmpty();
    const bool paused = m_view.value(QStringLiteral("paused")).toBool();
    m_pause->setText(paused ? tr("Resume admissio&n…") : tr("&Pause admission…"));
    if (m_gate) {
        m_gate->setEnabled(m_pause, ready);
        m_gate->setEnabled(m_setRate, ready);
    } else {
        m_pause->setEnabled(ready);
        m_setRate->setEnabled(ready);
    }
    m_rate->setEnabled(ready);
}

void WaitingRoomPanel::togglePause() {
    if (m_view.isEmpty())
        return;
    const bool pause = !m_view.value(QStringLiteral("paused")).toBool();
    const QString question =
        pause ? tr("Pause admission to sale %1?\n\nNobody else in the line is let in until it is "
                   "resumed; buyers already admitted can still book.")
                    .arg(m_saleId)
              : tr("Resume admission to sale %1 at %2 per minute?")
                    .arg(m_saleId)
                    .arg(m_view.value(QStringLiteral("admit_per_minute")).toInteger());
    confirmThen(this, tr("Waiting room of sale %1").arg(m_saleId), question, [this, pause] {
        send({{QStringLiteral("paused"), pause}},
             pause ? tr("Admission paused.") : tr("Admission resumed."));
    });
}

void WaitingRoomPanel::applyRate() {
    if (m_view.isEmpty())
        return;
    const int rate = m_rate->value();
    confirmThen(this, tr("Waiting room of sale %1").arg(m_saleId),
                tr("Admit %1 buyers per minute to sale %2 (now %3)?")
                    .arg(rate)
                    .arg(m_saleId)
                    .arg(m_view.value(QStringLiteral("admit_per_minute")).toInteger()),
                [this, rate] {
                    send({{QStringLiteral("admit_per_minute"), rate}},
                         tr("Admission rate set to %1 per minute.").arg(rate));
                });
}

void WaitingRoomPanel::send(const QJsonObject &change, const QString &what) {
    if (!m_client)
        return;
    QJsonObject args = change;
    args.insert(QStringLiteral("sale_id"), m_saleId);
    const qint64 id = m_saleId;
    m_client->request(Op::SaleWaitingRoomSet, args,
                      [self = QPointer(this), id, what](const AdminClient::Reply &r) {
                          if (!self)
                              return;
                          const QString title = tr("Waiting room of sale %1").arg(id);
                          if (!r.ok) {
                              showOutcome(self, title, tr("The change was refused."), &r.failure);
                              return;
                          }
                          const QJsonValue view = r.result.value(QStringLiteral("waiting_room"));
                          if (id == self->m_saleId && view.isObject())
                              self->showView(view.toObject());
                          showOutcome(self, title, what);
                      });
}

} // namespace flashsale::console
