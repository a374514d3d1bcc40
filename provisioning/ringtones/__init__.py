"""Custom ringtones: uploaded WAV files that phones fetch through the provisioning server."""
