-- 008_notification_failures: a notification the sender refused for good (an SMTP 5xx such as
-- 550 no such user) is recorded as failed, with the sender's message, and never sent again;
-- delivered_at and failed_at are never both set. Transient failures leave both NULL and are
-- retried (shared/notify/notificationservice.cpp).

ALTER TABLE notifications
    ADD COLUMN failed_at timestamptz,
    ADD COLUMN failure   text;
