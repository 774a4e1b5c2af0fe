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
--   $bin_micros     300000000   the same in microseconds
--   $max_ports      100         AttemptedPorts keeps the lowest $max_ports ports
--   $max_reporters  20          ReportedBy keeps the first $max_reporters, sorted
--   $profile        'default'   profile name, part of AlertId
--   $part_min       0           pass 1 reads the parts of a bin with this many
--   $unseen_max     0             events with a port or more; the parts it does
--   $evidence_min   0             not read add at most $unseen_max to a bin;
--                                 $evidence_min > 0: a bin is one part
--                               (scanlake sets all three from the lake's files;
--                               0, 0, 0 reads everything and is always exact)
--   $stored_keys    true        the lake's files store SrcKey (false: compute it)
--   $stored_bins    false       they store SrcBin and $bin is 5 minutes (false: compute it)
WITH events AS (
    SELECT
        SrcIpAddr,
        -- The bin's number since 1970-01-01 (event times are never
        -- before): a division, much cheaper than date_bin for every event.
        -- The lake stores it for 5-minute bins: then the passes below find
        -- their bins without decoding every event's time.
        CASE WHEN $stored_bins THEN SrcBin ELSE CAST(TimeGenerated AS BIGINT) / $bin_micros END AS Bin,
        TimeGenerated,
        DstPortNumber,
        DstIpAddr,
        EventCount,
        concat(EventVendor, '/', EventProduct) AS Reporter,
        -- A number for the source, the same for the same SrcIpAddr: the
        -- IPv4 address, else the low 64 bits of the IPv6 one, else 0.
        -- Different sources may share one: counted together in pass 1, they
        -- can only let more bins through. The lake stores it; files written
        -- before it did are read with $stored_keys false.
        CASE WHEN $stored_keys THEN SrcKey
             ELSE coalesce(CAST(SrcIpV4 AS BIGINT UNSIGNED), SrcIpV6Lo, CAST(0 AS BIGINT UNSIGNED)) END AS SrcKey,
        -- The events with a port that this row's file holds of its source
        -- (by SrcKey) in its 5-minute bin; null in files from before it.
        SrcBinPortEvents
    FROM im_network_session
    WHERE SrcIsExternal
),
-- Pass 1: the bins that can alert. A bin with more than $threshold
-- distinct ports has more than $threshold events with a port. The lake's
-- files store with each row how many its file holds in its 5-minute bin
-- (a part of a bin). A bin spread over n parts has one with more than
-- $threshold / n of them: so only the parts with at least $part_min are
-- read, and the lake's files keep those rows together, so the rest of the
-- pages are skipped unread. The parts left out add at most $unseen_max to
-- a bin's plain count. This finds every scanner's bin and a few more; the
-- exact distinct count is left to the evidence below.
scanners AS (
    SELECT SrcKey, Bin
    FROM events
    WHERE $part_min = 0 OR SrcBinPortEvents >= $part_min OR SrcBinPortEvents IS NULL
    GROUP BY SrcKey, Bin
    HAVING count(DstPortNumber) + $unseen_max > $threshold
),
-- Pass 2: the events of those bins. The scanners come first: they are the
-- hash join's in-memory build side, and the engine pushes their keys into
-- the scan of the events as a filter, so only their rows are decoded whole.
-- When a bin is one part ($evidence_min > 0), all its rows hold its count,
-- the plain count of pass 1: the evidence is then just the rows with
-- $evidence_min or more, read once, and the join and pass 1 drop out of
-- the plan (one of the two branches below is always empty).
evidence AS (
    SELECT e.*, date_bin(CAST($bin AS INTERVAL), e.TimeGenerated) AS BinStart
    FROM scanners s
    -- On both keys: a source with bins found all week (a busy one, or many
    -- sources sharing key 0) would otherwise have each of its events
    -- tested against each of its bins.
    JOIN events e ON e.SrcKey = s.SrcKey AND e.Bin = s.Bin
    WHERE $evidence_min = 0
    UNION ALL
    SELECT *, date_bin(CAST($bin AS INTERVAL), TimeGenerated) AS BinStart
    FROM events
    WHERE $evidence_min > 0 AND (SrcBinPortEvents >= $evidence_min OR SrcBinPortEvents IS NULL)
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
