#pragma once

#include <QByteArray>

namespace flashsale {

// A reservation id is "<sale id>-<32 lowercase hex>": the sale id first, so every key of a
// reservation can carry the sale's hash tag. The same string is the checkout code of
// POST /purchase, so it is a bearer secret of sorts: the 128 random bits come from libsodium's
// CSPRNG (randombytes_buf), never from a seeded PRNG, so one buyer's id says nothing of another's.
//
// A fresh reservation id of sale `saleId` (> 0). Thread-safe; cannot fail (libsodium aborts the
// process if the system's random source is unusable, rather than hand out guessable ids).
QByteArray newReservationId(qint64 saleId);

//
// The sale of a reservation id, or 0 if `rid` is not one. The sale id must be decimal digits
// without sign, spaces or leading zeros (at most 18), so each reservation has one spelling.
// Pure and thread-safe: it parses untrusted input (purchase codes, URL paths).
qint64 reservationSale(const QByteArray &rid);

} // namespace flashsale
