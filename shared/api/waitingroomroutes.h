#pragma once

namespace flashsale {

class HttpServer;
class PgConnection;
class RedisCommands;
struct Config;

// The waiting room's buyer routes (docs/WAITING_ROOM.md, docs/API.md), on one API thread:
//
//   POST /api/v1/sales/{id}/queue        join: buyer token, proof of work per entry when the
//                                        sale asks for one; 201 a new entry, 200 the buyer's
//                                        existing one (one entry per buyer); the answer carries
//                                        a signed receipt
//   GET  /api/v1/sales/{id}/queue        the buyer's own entry (no-store); once admitted it
//                                        carries `admission: {token, expires_at}`, the
//                                        X-Admission-Token of the booking
//   GET  /api/v1/waiting-room/receipt-key  the Ed25519 public key receipts are signed with
//
// Problems: sale-not-found (unknown or malformed id), waiting-room-not-found, sale-closed,
// lobby-not-open (Retry-After), rate-limited, pow-required, pow-invalid, pow-replayed,
// queue-full, not-in-queue, invalid-request, and the buyer token's (unauthorized,
// invalid-token, token-expired, token-user-mismatch); 503 when Redis is unavailable.
// `config`, `redis` and `pg` belong to the caller's thread and must outlive `server`'s routes.
//   GET  /api/v1/sales/{id}/fairness     the fairness publication, paged: from Redis while the
//                                        sale's keys live, then from the archive in PostgreSQL
// `pg` is used only for the archive.
void installWaitingRoomRoutes(HttpServer &server, const Config &config, RedisCommands &redis,
                              PgConnection &pg);

} // namespace flashsale
