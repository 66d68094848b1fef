-- 0008_network_profiles: the network connection profiles of OCPP 2.0.1.
--
-- What SetNetworkProfile stored in each configuration slot (B09), as the
-- connectionData JSON of the request: the link dials them in the order of
-- NetworkConfigurationPriority (B10). A slot holds one profile; a new one
-- replaces it.
CREATE TABLE network_profile (
    slot    INTEGER PRIMARY KEY CHECK (slot >= 1),
    profile TEXT NOT NULL
);
