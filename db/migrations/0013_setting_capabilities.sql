-- What each catalogue model does with the optional settings: `features.settings` lists the
-- ones its vendor's configuration writes (the API refuses the others with 422 "… is not
-- supported by <model>", so nothing is stored for nothing), `features.ringtones` how many
-- built-in ringtones the 1-based `ringtone` / `ringer.tone` may choose from, and for DECT
-- bases `features.regions` the radio regions `region` may name. Optional settings
-- (provisioning/phones/capabilities.py): ringtone, queueRingtone, externalRingtone,
-- powerLed, screensaver, https, doorPassword, callWaiting, softkeyConfigurationOnDevice,
-- dhsg, region, userPassword, engineerPassword.
--
-- Sources (provisioning/vendors/<vendor>.py cites each key):
--   Yealink desk: phone_setting.ring_type Ring1-8.wav and distinctive_ring_tones.alert_info.N
--     (wazo-provd-plugins wazo_yealink v87 base.tpl), phone_setting.common_power_led_enable,
--     screensaver.wait_time, static.auto_provision.custom.protect, call_waiting.enable.
--   Yealink W-series: call_waiting.enable, static.security.user_password (user login).
--   snom desk: user_ringer Ringer1-10, alert_group_ring_sound / alert_external_ring_sound
--     (Alert-Info alert-group / alert-external), call_waiting, fkey perm R / RW.
--   snom M-series: call_waiting.
--   Grandstream GXP21xx/GRP261x configuration template 1.0.11.16: P104 account ring tone
--     (system ring tone, custom ring tones 1-3: four), P2918/P2919 screensaver, P91 call
--     waiting; its distinctive ringtones match caller ids only (no Alert-Info text).
--   Polycom UC Software: reg.N.ringType ringer2.. (ringer1 is silent), voIpProt.SIP.alertInfo.N
--     with se.rt.customN ring classes, up.screenSaver.enabled / waitTime,
--     call.callWaiting.enable, up.analogHeadsetOption.
--   Cisco SPA: Default_Ring_N_ (Ring1-10), Screen_Saver_Enable / Screen_Saver_Wait, CW_Setting,
--     ua="na" / "rw" on the key parameters.
--   Mitel 6800i: ring tone 0-4 (Tone 1-5), alert group / alert external (normal ringing and
--     Bellcore dr2-dr5), call waiting.
--   Fanvil: RingType and EnableCallWaiting (leads, see fanvil.py).
--   Gigaset Nx70: DmGlobal.0.SystemRegDomain (EUR in wazo-provd-plugins wazo_gigaset
--     Nx70 templates); no confirmed call waiting, ringtone or further password names.
--   Every vendor's configuration carries its provisioning URL, so `https` (with the
--   server's tls_cert) is in force on every model. No catalogue model is a door phone:
--   doorPassword and engineerPassword are taken by none.
UPDATE sip_phone_models SET features = features || '{"ringtones": 8, "settings": ["ringtone", "queueRingtone", "externalRingtone", "powerLed", "screensaver", "https", "callWaiting", "softkeyConfigurationOnDevice"]}'::jsonb
    WHERE vendor = 'yealink' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"settings": ["https", "callWaiting", "userPassword"]}'::jsonb
    WHERE vendor = 'yealink' AND kind = 'dect';
UPDATE sip_phone_models SET features = features || '{"ringtones": 10, "settings": ["ringtone", "queueRingtone", "externalRingtone", "https", "callWaiting", "softkeyConfigurationOnDevice"]}'::jsonb
    WHERE vendor = 'snom' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"settings": ["https", "callWaiting"]}'::jsonb
    WHERE vendor = 'snom' AND kind = 'dect';
UPDATE sip_phone_models SET features = features || '{"ringtones": 4, "settings": ["ringtone", "screensaver", "https", "callWaiting"]}'::jsonb
    WHERE vendor = 'grandstream' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"ringtones": 10, "settings": ["ringtone", "queueRingtone", "externalRingtone", "screensaver", "https", "callWaiting", "dhsg"]}'::jsonb
    WHERE vendor = 'polycom' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"ringtones": 10, "settings": ["ringtone", "screensaver", "https", "callWaiting", "softkeyConfigurationOnDevice"]}'::jsonb
    WHERE vendor = 'cisco' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"ringtones": 5, "settings": ["ringtone", "queueRingtone", "externalRingtone", "https", "callWaiting"]}'::jsonb
    WHERE vendor = 'mitel' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"ringtones": 10, "settings": ["ringtone", "https", "callWaiting"]}'::jsonb
    WHERE vendor = 'fanvil' AND kind = 'desk';
UPDATE sip_phone_models SET features = features || '{"regions": ["EUR"], "settings": ["https", "region"]}'::jsonb
    WHERE vendor = 'gigaset' AND kind = 'dect';
