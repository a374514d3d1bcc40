"""The SIP phone record: field table, validation, partial merge and JSON (002/003/004)."""
