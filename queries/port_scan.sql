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
        concat(EventVendor, '/', EventProduct) AS Reporter,
        -- A number for the source, the same for the same SrcIpAddr: the
        -- IPv4 address, else the low 64 bits of the IPv6 one, else 0.
        -- Different sources may share one; see pass 0.
        coalesce(CAST(SrcIpV4 AS BIGINT UNSIGNED), SrcIpV6Lo, CAST(0 AS BIGINT UNSIGNED)) AS SrcKey
    FROM im_network_session
    WHERE SrcIsExternal
),
-- Pass 0: a source can only pass the threshold in a bin if it has more than
-- $threshold events with a port in the whole range. Nearly every source of
-- a busy network has a handful of events, so this cheap count per source
-- (rather than per source and bin) leaves few candidates. It counts per
-- SrcKey, a number being much faster to group by than text; sources that
-- share a key are counted together, which can only let more of them
-- through. Exact: it only drops sources that cannot alert.
candidates AS (
    SELECT SrcKey
    FROM events
    GROUP BY SrcKey
    HAVING count(DstPortNumber) > $threshold
),
-- Pass 1: the bins that can alert. A bin with more than $threshold
-- distinct ports has more than $threshold events with a port, so a plain
-- count per key and bin finds every scanner's bin, and a few more; the
-- exact distinct count is left to the evidence below. A plain count is much
-- cheaper than a distinct one, and the busy sources' bins (a few events
-- each, to a few ports) stop here instead of reaching a distinct count.
scanners AS (
    SELECT e.SrcKey, e.BinStart
    FROM candidates c
    JOIN events e ON e.SrcKey = c.SrcKey
    GROUP BY e.SrcKey, e.BinStart
    HAVING count(e.DstPortNumber) > $threshold
),
-- Pass 2: the events of those bins. The small side of each join
-- (candidates, scanners) comes first: it is the hash join's in-memory build
-- side, and the engine pushes its keys into the scan of the events as a
-- filter, so only their rows are decoded whole.
evidence AS (
    SELECT e.*
    FROM scanners s
    -- The same as `e.BinStart = s.BinStart`, written as a time range so that
    -- the filter pushed into the scan tests the source alone and the bin of
    -- an event is computed only for the scanners' events.
    JOIN events e ON e.SrcKey = s.SrcKey
        AND e.TimeGenerated >= s.BinStart AND e.TimeGenerated < s.BinStart + CAST($bin AS INTERVAL)
)
-- The exact rule: per source (the text, which a key may share) and bin,
-- the distinct destination ports, over the threshold.
SELECT
    SrcIpAddr,
    BinStart AS TimeGenerated,
    BinStart + CAST($bin AS INTERVAL) AS BinEnd,
    count(DISTINCT DstPortNumber) AS AttemptedPortsCount,
    array_slice(array_sort(array_distinct(array_agg(DstPortNumber) FILTER (WHERE DstPortNumber IS NOT NULL))), 1, $max_ports) AS AttemptedPorts,
    array_slice(array_sort(array_distinct(array_agg(Reporter))), 1, $max_reporters) AS ReportedBy,
    min(TimeGenerated) AS FirstSeen,
    max(TimeGenerated) AS LastSeen,
    sum(coalesce(EventCount, 1)) AS EventCount,
    count(DISTINCT DstIpAddr) AS DistinctTargets,
    md5(concat_ws('|', '1da9853f-3dea-4ea9-b7e5-26730da3d537', $profile, SrcIpAddr,
                  to_char(BinStart, '%Y-%m-%dT%H:%M:%SZ'), to_char(BinStart + CAST($bin AS INTERVAL), '%Y-%m-%dT%H:%M:%SZ'))) AS AlertId
FROM evidence
GROUP BY SrcIpAddr, BinStart
HAVING count(DISTINCT DstPortNumber) > $threshold
ORDER BY TimeGenerated, SrcIpAddr
