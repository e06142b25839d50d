#pragma once

#include "core/result.h"

#include <QString>
#include <QStringList>

namespace flashsale {

// Applies the numbered migrations embedded under ":/sql/NNN_name.sql" in order, each once, and
// records each in schema_migrations (version, name, checksum, applied_at). Runs at start-up,
// before the event loop, on its own blocking connection; several processes starting at once
// serialise on a PostgreSQL advisory lock. Each migration runs in its own transaction.
//
// Returns the versions applied by this call, or an error (connection failure, a failing
// migration, or an applied migration whose file has since changed: its checksum differs).
[[nodiscard]] Result<QStringList> applyMigrations(const QString &conninfo);

} // namespace flashsale
