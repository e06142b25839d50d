#pragma once

#include <QByteArray>

namespace flashsale {

// A reservation id is "<sale id>-<32 lowercase hex>" (BookingService::newReservationId): the sale
// id first, so every key of a reservation can carry the sale's hash tag.
//
// The sale of a reservation id, or 0 if `rid` is not one. The sale id must be decimal digits
// without sign, spaces or leading zeros (at most 18), so each reservation has one spelling.
// Pure and thread-safe: it parses untrusted input (purchase codes, URL paths).
qint64 reservationSale(const QByteArray &rid);

} // namespace flashsale
