"""The registrar's pure logic: reading a REGISTER (`request`) and deciding it (`decision`)."""
