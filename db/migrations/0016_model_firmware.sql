-- The firmware each catalogue model should run (/api/pbx/sipphonemodel/{id} firmwareUrl,
-- firmwareVersion; ADMIN writes them, the catalogue being global). The phone's config
-- names it in the vendor's key where the vendor has one (provisioning/vendors/*.py); the
-- catalogue trigger of migration 0008 drops the file server's cached records on a change.
ALTER TABLE sip_phone_models
    ADD COLUMN firmware_url text CHECK (firmware_url ~ '^https?://'),
    ADD COLUMN firmware_version text;
