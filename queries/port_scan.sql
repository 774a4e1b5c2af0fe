-- Port scan detected (ASIM Network Session schema)
-- Microsoft Sentinel analytic rule 1da9853f-3dea-4ea9-b7e5-26730da3d537, version 1.0.6
-- Severity: Medium. MITRE ATT&CK: Discovery (TA0007), T1046 Network Service Discovery.
--
-- Reads `im_network_session`: the lake's `network_session` events inside the
-- time range and filters, minus exclusions, with `SrcIsExternal` decided by
-- the profile (scanlake builds this view; the README shows how to build it in
-- datafusion-cli).
--
-- Parameters (defaults):
--   $threshold      50          alert when distinct destination ports > $threshold
--   $bin            5 minutes   bin width (INTERVAL), bins aligned to 00:00 UTC
--   $max_ports      100         AttemptedPorts keeps the lowest $max_ports ports
--   $max_reporters  20          ReportedBy keeps the first $max_reporters, sorted
--   $profile        'default'   profile name, part of AlertId
WITH events AS (
    SELECT
        SrcIpAddr,
        date_bin(CAST($bin AS INTERVAL), TimeGenerated) AS BinStart,
        TimeGenerated,
        DstPortNumber,
        DstIpAddr,
        EventCount,
        concat(EventVendor, '/', EventProduct) AS Reporter
    FROM im_network_session
    WHERE SrcIsExternal
),
-- Pass 1: the exact number of distinct destination ports per source and bin.
-- Only scanners survive it, so the evidence below is built for them alone.
scanners AS (
    SELECT SrcIpAddr, BinStart, count(DISTINCT DstPortNumber) AS AttemptedPortsCount
    FROM events
    GROUP BY SrcIpAddr, BinStart
    HAVING count(DISTINCT DstPortNumber) > $threshold
),
-- Pass 2: the events of those scanners in those bins. The scanners are the
-- join's build side (few rows, held in memory); the events stream past them.
evidence AS (
    SELECT e.*, s.AttemptedPortsCount
    FROM scanners s
    JOIN events e ON e.SrcIpAddr = s.SrcIpAddr AND e.BinStart = s.BinStart
)
SELECT
    SrcIpAddr,
    BinStart AS TimeGenerated,
    BinStart + CAST($bin AS INTERVAL) AS BinEnd,
    AttemptedPortsCount,
    array_slice(array_sort(array_distinct(array_agg(DstPortNumber) FILTER (WHERE DstPortNumber IS NOT NULL))), 1, $max_ports) AS AttemptedPorts,
    array_slice(array_sort(array_distinct(array_agg(Reporter))), 1, $max_reporters) AS ReportedBy,
    min(TimeGenerated) AS FirstSeen,
    max(TimeGenerated) AS LastSeen,
    sum(coalesce(EventCount, 1)) AS EventCount,
    count(DISTINCT DstIpAddr) AS DistinctTargets,
    md5(concat_ws('|', '1da9853f-3dea-4ea9-b7e5-26730da3d537', $profile, SrcIpAddr,
                  to_char(BinStart, '%Y-%m-%dT%H:%M:%SZ'), to_char(BinStart + CAST($bin AS INTERVAL), '%Y-%m-%dT%H:%M:%SZ'))) AS AlertId
FROM evidence
GROUP BY SrcIpAddr, BinStart, AttemptedPortsCount
ORDER BY TimeGenerated, SrcIpAddr
