-- Account emails (issue 18): identity asks for a verification link, a
-- password-reset link, or a notice (a registration attempt with a known
-- address, a changed password, unusual sign-in attempts) to be emailed.
--
-- Each account event is one email to the account's holder, whatever their
-- role: its row carries the event's id in `appointment_id` (the subject of the
-- email), the account's id in `recipient_id` (so the holder finds it in their
-- own list), the address the event names in `recipient_address`, and the
-- `user.*` payload in `snapshot`. A payload's `token` is a secret: it is
-- removed from `snapshot` as soon as the delivery is final (sent, failed or
-- dropped), so the log never keeps a working link.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_recipient_role_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_recipient_role_check
    CHECK (recipient_role IN ('patient', 'provider', 'admin', 'privacy-contact', 'account-holder'));
