package telemetry

// Install is install for tests (a synchronous in-memory exporter).
var Install = install
