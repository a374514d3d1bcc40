-- Catalogue corrections found while confirming vendor key names (issue 6).
--
-- GXP2170: 6 SIP accounts, not 12 (12 is its line-key count). Grandstream's configuration
-- template for GXP2130/2140/2160/2170 firmware 1.0.11.16 has Account 1-6 only ("Account 5
-- - GXP2160/2170 only", account choices "0 - Account 1 … 5 - Account 6"); kept in
-- wazo-platform/wazo-provd-plugins plugins/wazo-grandstream/docs/config-template/
-- gxp2130_40_60_70_35_config_1.0.11.16.txt. provisioning/vendors/grandstream.py renders
-- accounts 1-6 only.
UPDATE sip_phone_models SET accounts = 6 WHERE name = 'grandstream-gxp2170' AND accounts = 12;
