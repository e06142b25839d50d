#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <optional>

namespace flashsale {

// What a waiting-room receipt says: the buyer's entry as the server placed it when they joined.
struct EntryReceiptFields {
    qint64 saleId = 0;
    QByteArray entryId;    // 16 base64url characters (booking/reservationid.h)
    qint64 joinedMs = 0;   // Redis' clock when the entry was made
    bool cohort = false;   // in the shuffled cohort (else FIFO behind it)
    qint64 position = 0;   // arrival position in the cohort, or in the FIFO
    QByteArray commitment; // hex SHA-256 of the sale's seed, as published in the lobby

    bool operator==(const EntryReceiptFields &) const = default;
};

// Signed receipts of waiting-room entries (docs/WAITING_ROOM.md, "Receipts"). A receipt is the
// buyer's evidence against the operator ("my cohort entry must be in the published list"), so a
// third party must be able to check it: Ed25519 (libsodium), not an HMAC that only the server
// could verify.
//
//   receipt  = base64url(message) "." base64url(signature)      (no padding)
//   message  = "fs-receipt-v1|" sale "|" entry "|" joined_ms "|" ("c" | "f") "|" position "|"
//              commitment
//
// The signing key is derived, so every API process of a deployment signs with the same key
// without a new secret file: the Ed25519 seed is HMAC-SHA256(key = `secret`, message =
// "flashsale-receipt-v1"), where `secret` is the proof-of-work secret (the buyer-token secret).
// Rotating that secret rotates the receipt key. With an empty secret (a development server
// without buyer tokens) the key pair is random, so receipts verify only against this process's
// public key. Signing is deterministic, so a repeat join re-signs the same receipt and nothing
// is stored. Immutable after construction; any thread.
class EntryReceipts {
public:
    explicit EntryReceipts(const QByteArray &secret);

    // The receipt of `fields`.
    QByteArray sign(const EntryReceiptFields &fields) const;
    // The 32-byte Ed25519 public key (GET /api/v1/waiting-room/receipt-key serves it in hex).
    QByteArray publicKey() const { return m_publicKey; }

    // The signed bytes of `fields`.
    static QByteArray message(const EntryReceiptFields &fields);
    // The fields of `receipt` when it is well formed and signed by `publicKey` (32 bytes);
    // nullopt otherwise (malformed, wrong key, any byte changed). Pure; parses untrusted input.
    static std::optional<EntryReceiptFields> verify(QByteArrayView receipt,
                                                    QByteArrayView publicKey);

private:
    QByteArray m_publicKey;
    QByteArray m_secretKey; // libsodium's 64-byte form (seed + public key)
};

} // namespace flashsale
