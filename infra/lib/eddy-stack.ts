// The Eddy stack in CDK: the same resources, event source settings and policies as
// ../template.yaml (SAM). test/parity.test.ts compares the two templates.
//
// Resources are mostly L1 (Cfn*) constructs with the SAM template's logical IDs, so both
// templates use the same names and the same Parameters. The functions and the rules layer
// are L2 constructs (for their assets), with their logical IDs overridden to match.
// The event source mappings are L1: the L2 EventSourceMapping validates maxRecordAge and
// batch sizes eagerly and refuses CloudFormation Parameters there.
import * as fs from "fs";
import * as path from "path";
import {
  Aws,
  CfnCondition,
  CfnOutput,
  CfnParameter,
  CfnResource,
  Duration,
  Fn,
  RemovalPolicy,
  Stack,
  StackProps,
} from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import * as kinesis from "aws-cdk-lib/aws-kinesis";
import * as firehose from "aws-cdk-lib/aws-kinesisfirehose";
import * as kms from "aws-cdk-lib/aws-kms";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as logs from "aws-cdk-lib/aws-logs";
import * as s3 from "aws-cdk-lib/aws-s3";
import * as sns from "aws-cdk-lib/aws-sns";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

/** The five functions: the binary (and `target/lambda/<name>/`) of each. */
export const FUNCTIONS = ["archive", "enrich", "filter", "detect", "aggregate"] as const;
/** One of [`FUNCTIONS`]. */
export type FunctionName = (typeof FUNCTIONS)[number];

/** Where the repository's files are, and the Lambda code of each function. */
export interface EddyStackProps extends StackProps {
  /** The code (a folder holding `bootstrap`) of each function. */
  readonly code: (name: FunctionName) => lambda.Code;
  /** The repository root (for rules/ and infra/filter-criteria/). */
  readonly repoRoot: string;
}

const ESM_READ_ACTIONS = [
  "kinesis:DescribeStream",
  "kinesis:DescribeStreamSummary",
  "kinesis:GetRecords",
  "kinesis:GetShardIterator",
  "kinesis:ListShards",
];
const KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"];

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Skips of checkov checks, with the reason (the same as template.yaml's). */
function checkovSkips(resource: CfnResource, skips: Array<[string, string]>) {
  resource.addMetadata("checkov", { skip: skips.map(([id, comment]) => ({ id, comment })) });
}

const NOT_ASYNC =
  "A dead-letter queue applies to asynchronous invocations; this function is invoked only by its Kinesis mapping, which has FailureQueue as its on-failure destination.";
const NO_VPC = "It calls only AWS APIs (Kinesis, S3) over TLS; a VPC would add NAT or endpoint cost and no protection.";
const NO_RESERVED =
  "Concurrency is bounded by the mapping (shards x ParallelizationFactor); reserving it would take from the account pool.";

export class EddyStack extends Stack {
  constructor(scope: Construct, id: string, props: EddyStackProps) {
    super(scope, id, props);
    this.templateOptions.description =
      "Eddy: Rust Lambda stream processors on Kinesis (CDK twin of template.yaml).";

    // ---------------------------------------------------------------- parameters
    const num = (name: string, def: number, description: string, extra: Partial<{ minValue: number; maxValue: number; allowedValues: string[] }> = {}) =>
      new CfnParameter(this, name, { type: "Number", default: def, description, ...extra });
    const str = (name: string, def: string, description: string, extra: Partial<{ allowedValues: string[]; allowedPattern: string }> = {}) =>
      new CfnParameter(this, name, { type: "String", default: def, description, ...extra });

    const streamMode = str("StreamMode", "PROVISIONED", "Capacity mode of the four Kinesis streams (PROVISIONED uses ShardCount).", { allowedValues: ["PROVISIONED", "ON_DEMAND"] });
    const shardCount = num("ShardCount", 1, "Shards per stream when StreamMode is PROVISIONED (1 MB/s or 1,000 records/s in, each).", { minValue: 1 });
    const retention = num("StreamRetentionHours", 24, "How long each stream keeps records (hours); more than 24 costs extra per shard-hour.", { minValue: 24, maxValue: 8760 });
    const memory: Record<FunctionName, CfnParameter> = {
      archive: num("ArchiveMemorySize", 256, "Memory (MB) of the archive function; CPU scales with it.", { minValue: 128, maxValue: 10240 }),
      enrich: num("EnrichMemorySize", 512, "Memory (MB) of the enrich function (holds the geo databases when configured).", { minValue: 128, maxValue: 10240 }),
      filter: num("FilterMemorySize", 256, "Memory (MB) of the filter function.", { minValue: 128, maxValue: 10240 }),
      detect: num("DetectMemorySize", 256, "Memory (MB) of the detect function (fraud detectors, state in DynamoDB).", { minValue: 128, maxValue: 10240 }),
      aggregate: num("AggregateMemorySize", 256, "Memory (MB) of the aggregate function.", { minValue: 128, maxValue: 10240 }),
    };
    const timeout = num("FunctionTimeout", 60, "Timeout (seconds) of every function; sinks stop retrying shortly before it.", { minValue: 5, maxValue: 900 });
    // a string default: AllowedValues are strings, and cfn-lint wants the default among them
    const logRetention = new CfnParameter(this, "LogRetentionDays", {
      type: "Number",
      default: "30",
      description: "Retention of the functions' and the delivery stream's CloudWatch log groups.",
      allowedValues: ["1", "3", "5", "7", "14", "30", "60", "90", "120", "150", "180", "365", "400", "545", "731", "1096", "1827", "2192", "2557", "2922", "3288", "3653"],
    });
    const batchSize = num("BatchSize", 1000, "Most records per invocation (Lambda also caps a batch at 6 MB).", { minValue: 1, maxValue: 10000 });
    const batchingWindow = num("MaximumBatchingWindowInSeconds", 1, "How long Lambda gathers records before invoking (latency vs invocations).", { minValue: 0, maxValue: 300 });
    const startingPosition = str("StartingPosition", "TRIM_HORIZON", "Where a new mapping starts reading (TRIM_HORIZON loses nothing already in the stream).", { allowedValues: ["TRIM_HORIZON", "LATEST"] });
    const parallelization = num("ParallelizationFactor", 1, "Concurrent batches per shard for archive, enrich, filter and detect (aggregate always uses 1: its window state and report key are per shard).", { minValue: 1, maxValue: 10 });
    const retries = num("MaximumRetryAttempts", 5, "Retries of a failed batch (partial failures and bisection included) before the on-failure destination; -1 retries until the record expires.", { minValue: -1, maxValue: 10000 });
    const recordAge = num("MaximumRecordAgeInSeconds", 21600, "Records older than this go to the on-failure destination unprocessed (-1 never; keep below the retention so they can be re-read).", { minValue: -1, maxValue: 604800 });
    const tumblingWindow = num("TumblingWindowInSeconds", 60, "Window of the aggregate function's reports.", { minValue: 1, maxValue: 900 });
    const bufferSeconds = num("FirehoseBufferIntervalSeconds", 300, "Firehose writes an object at least this often (seconds).", { minValue: 0, maxValue: 900 });
    const bufferMb = num("FirehoseBufferSizeMB", 64, "Firehose writes an object when this much (MB, before GZIP) is buffered.", { minValue: 1, maxValue: 128 });
    const iaDays = num("ArchiveInfrequentAccessDays", 30, "Days before raw/ objects move to S3 Standard-IA.", { minValue: 30 });
    const glacierDays = num("ArchiveGlacierDays", 90, "Days before raw/ objects move to S3 Glacier Instant Retrieval.", { minValue: 60 });
    const archiveExpiry = num("ArchiveExpirationDays", 365, "Days before raw/ objects are deleted.", { minValue: 91 });
    const reportsExpiry = num("ReportsExpirationDays", 90, "Days before reports/ and late/ objects are deleted.", { minValue: 1 });
    const quarantineExpiry = num("QuarantineExpirationDays", 30, "Days before quarantine/, failed batches (aws/lambda/) and Firehose errors are deleted.", { minValue: 1 });
    const noncurrentExpiry = num("NoncurrentVersionExpirationDays", 7, "Days before overwritten or deleted object versions are removed.", { minValue: 1 });
    const accessLogExpiry = num("AccessLogExpirationDays", 90, "Days before S3 server access logs are deleted.", { minValue: 1 });
    const lookupKey = { allowedPattern: "^(lookups/[^*]+)?$" };
    const geoDbKey = str("GeoDbKey", "", "Key (under lookups/ in the data bucket) of a MaxMind DB city or country database for enrich; empty = no geo lookups.", lookupKey);
    const asnDbKey = str("AsnDbKey", "", "Key (under lookups/) of a separate MaxMind DB ASN database; empty = none.", lookupKey);
    const catalogKey = str("ServiceCatalogKey", "", "Key (under lookups/) of the service catalog JSON for enrich; empty = no catalog lookups.", lookupKey);
    const groupBy = str("AggregateGroupBy", "source,http.status_class", "Dimensions of the aggregate reports (comma-separated dotted field paths).");
    const fraudTtlDays = num("FraudStateTtlDays", 90, "Days a user's, card's or IP's fraud state lives after its last update (the table's TTL).", { minValue: 1, maxValue: 3650 });
    const iteratorAgeMs = num("IteratorAgeAlarmMilliseconds", 60000, "Alarm when a function's oldest unprocessed record is older than this.", { minValue: 1000 });
    const alarmEmail = str("AlarmEmail", "", "An email address subscribed to the alarms' topic (confirm the mail AWS sends); empty = subscribe yourself later.", {
      allowedPattern: "^([^@\\s]+@[^@\\s]+)?$",
    });

    // ---------------------------------------------------------------- conditions
    const notEmpty = (p: CfnParameter) => Fn.conditionNot(Fn.conditionEquals(p.valueAsString, ""));
    const onDemand = new CfnCondition(this, "OnDemandStreams", { expression: Fn.conditionEquals(streamMode.valueAsString, "ON_DEMAND") });
    const hasAlarmEmail = new CfnCondition(this, "HasAlarmEmail", { expression: notEmpty(alarmEmail) });
    const hasGeoDb = new CfnCondition(this, "HasGeoDb", { expression: notEmpty(geoDbKey) });
    const hasAsnDb = new CfnCondition(this, "HasAsnDb", { expression: notEmpty(asnDbKey) });
    const hasCatalog = new CfnCondition(this, "HasServiceCatalog", { expression: notEmpty(catalogKey) });

    // ---------------------------------------------------------------- key
    const dataKey = new kms.CfnKey(this, "DataKey", {
      description: "Eddy data at rest (Kinesis, Firehose, S3, SQS, CloudWatch Logs)",
      enableKeyRotation: true,
      keyPolicy: {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "AccountIamPolicies",
            Effect: "Allow",
            Principal: { AWS: Fn.sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") },
            Action: "kms:*",
            Resource: "*",
          },
          {
            Sid: "CloudWatchLogsOfThisAccount",
            Effect: "Allow",
            Principal: { Service: Fn.sub("logs.${AWS::Region}.amazonaws.com") },
            Action: ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:Describe*"],
            Resource: "*",
            Condition: {
              ArnLike: {
                "kms:EncryptionContext:aws:logs:arn": Fn.sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"),
              },
            },
          },
          // alarms publish to AlarmTopic, which is encrypted with this key
          {
            Sid: "CloudWatchAlarmsToTopic",
            Effect: "Allow",
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
            Resource: "*",
          },
        ],
      },
    });
    new kms.CfnAlias(this, "DataKeyAlias", { aliasName: Fn.sub("alias/${AWS::StackName}-data"), targetKeyId: dataKey.ref });
    const keyArn = dataKey.attrArn;

    // ---------------------------------------------------------------- streams
    const stream = (id: string) =>
      new kinesis.CfnStream(this, id, {
        retentionPeriodHours: retention.valueAsNumber,
        shardCount: Fn.conditionIf(onDemand.logicalId, Aws.NO_VALUE, shardCount.valueAsNumber) as unknown as number,
        streamModeDetails: { streamMode: streamMode.valueAsString },
        streamEncryption: { encryptionType: "KMS", keyId: keyArn },
      });
    const raw = stream("RawStream");
    const enriched = stream("EnrichedStream");
    const alerts = stream("AlertsStream");
    const reports = stream("ReportsStream");

    // ---------------------------------------------------------------- buckets
    const blockPublic = { blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true };
    const accessLogs = new s3.CfnBucket(this, "AccessLogsBucket", {
      bucketEncryption: { serverSideEncryptionConfiguration: [{ serverSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] },
      publicAccessBlockConfiguration: blockPublic,
      ownershipControls: { rules: [{ objectOwnership: "BucketOwnerEnforced" }] },
      versioningConfiguration: { status: "Enabled" },
      lifecycleConfiguration: {
        rules: [
          {
            id: "access-logs",
            status: "Enabled",
            expirationInDays: accessLogExpiry.valueAsNumber,
            noncurrentVersionExpiration: { noncurrentDays: noncurrentExpiry.valueAsNumber },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
    });
    accessLogs.applyRemovalPolicy(RemovalPolicy.RETAIN);
    checkovSkips(accessLogs, [["CKV_AWS_18", "This is the access-log bucket itself; logging it into itself would loop."]]);

    const expire = (id: string, prefix: string, days: CfnParameter) => ({ id, status: "Enabled", prefix, expirationInDays: days.valueAsNumber });
    const data = new s3.CfnBucket(this, "DataBucket", {
      bucketEncryption: {
        serverSideEncryptionConfiguration: [
          { serverSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: keyArn }, bucketKeyEnabled: true },
        ],
      },
      publicAccessBlockConfiguration: blockPublic,
      ownershipControls: { rules: [{ objectOwnership: "BucketOwnerEnforced" }] },
      versioningConfiguration: { status: "Enabled" },
      loggingConfiguration: { destinationBucketName: accessLogs.ref, logFilePrefix: "data-bucket/" },
      lifecycleConfiguration: {
        rules: [
          {
            id: "raw-archive",
            status: "Enabled",
            prefix: "raw/",
            transitions: [
              { storageClass: "STANDARD_IA", transitionInDays: iaDays.valueAsNumber },
              { storageClass: "GLACIER_IR", transitionInDays: glacierDays.valueAsNumber },
            ],
            expirationInDays: archiveExpiry.valueAsNumber,
          },
          expire("reports", "reports/", reportsExpiry),
          expire("late-events", "late/", reportsExpiry),
          expire("quarantine", "quarantine/", quarantineExpiry),
          expire("failed-batches", "aws/lambda/", quarantineExpiry),
          expire("firehose-errors", "firehose-errors/", quarantineExpiry),
          {
            id: "old-versions-and-uploads",
            status: "Enabled",
            noncurrentVersionExpiration: { noncurrentDays: noncurrentExpiry.valueAsNumber },
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
    });
    data.applyRemovalPolicy(RemovalPolicy.RETAIN);

    const denyInsecure = (service: string, resources: unknown) => ({
      Sid: "DenyInsecureTransport",
      Effect: "Deny",
      Principal: "*",
      Action: `${service}:*`,
      Resource: resources,
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    });
    new s3.CfnBucketPolicy(this, "DataBucketPolicy", {
      bucket: data.ref,
      policyDocument: { Version: "2012-10-17", Statement: [denyInsecure("s3", [data.attrArn, Fn.sub("${DataBucket.Arn}/*")])] },
    });
    new s3.CfnBucketPolicy(this, "AccessLogsBucketPolicy", {
      bucket: accessLogs.ref,
      policyDocument: {
        Version: "2012-10-17",
        Statement: [
          denyInsecure("s3", [accessLogs.attrArn, Fn.sub("${AccessLogsBucket.Arn}/*")]),
          {
            Sid: "S3ServerAccessLogs",
            Effect: "Allow",
            Principal: { Service: "logging.s3.amazonaws.com" },
            Action: "s3:PutObject",
            Resource: Fn.sub("${AccessLogsBucket.Arn}/data-bucket/*"),
            Condition: { ArnLike: { "aws:SourceArn": data.attrArn }, StringEquals: { "aws:SourceAccount": Aws.ACCOUNT_ID } },
          },
        ],
      },
    });

    // ---------------------------------------------------------------- on-failure queue
    const failureQueue = new sqs.CfnQueue(this, "FailureQueue", {
      messageRetentionPeriod: 1209600,
      kmsMasterKeyId: keyArn,
      kmsDataKeyReusePeriodSeconds: 3600,
    });
    new sqs.CfnQueuePolicy(this, "FailureQueuePolicy", {
      queues: [failureQueue.ref],
      policyDocument: { Version: "2012-10-17", Statement: [denyInsecure("sqs", failureQueue.attrArn)] },
    });

    // ---------------------------------------------------------------- firehose
    const logGroup = (id: string) => new logs.CfnLogGroup(this, id, { retentionInDays: logRetention.valueAsNumber, kmsKeyId: keyArn });
    const firehoseLogs = logGroup("FirehoseLogGroup");
    const firehoseLogStream = new logs.CfnLogStream(this, "FirehoseLogStream", { logGroupName: firehoseLogs.ref, logStreamName: "S3Delivery" });
    const firehoseRole = new iam.CfnRole(this, "FirehoseRole", {
      assumeRolePolicyDocument: {
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Principal: { Service: "firehose.amazonaws.com" },
            Action: "sts:AssumeRole",
            Condition: { StringEquals: { "sts:ExternalId": Aws.ACCOUNT_ID } },
          },
        ],
      },
      policies: [
        {
          policyName: "deliver-to-s3",
          policyDocument: {
            Version: "2012-10-17",
            Statement: [
              { Sid: "Bucket", Effect: "Allow", Action: ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], Resource: data.attrArn },
              {
                Sid: "Objects",
                Effect: "Allow",
                Action: ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                Resource: [Fn.sub("${DataBucket.Arn}/raw/*"), Fn.sub("${DataBucket.Arn}/firehose-errors/*")],
              },
              { Sid: "Key", Effect: "Allow", Action: KEY_ACTIONS, Resource: keyArn },
              {
                Sid: "Logs",
                Effect: "Allow",
                Action: "logs:PutLogEvents",
                Resource: Fn.sub(
                  "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${FirehoseLogGroup}:log-stream:${FirehoseLogStream}",
                ),
              },
            ],
          },
        },
      ],
    });
    const delivery = new firehose.CfnDeliveryStream(this, "ArchiveDeliveryStream", {
      deliveryStreamType: "DirectPut",
      deliveryStreamEncryptionConfigurationInput: { keyType: "CUSTOMER_MANAGED_CMK", keyArn },
      extendedS3DestinationConfiguration: {
        bucketArn: data.attrArn,
        roleArn: firehoseRole.attrArn,
        prefix: "raw/!{timestamp:yyyy/MM/dd/HH}/",
        errorOutputPrefix: "firehose-errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/",
        compressionFormat: "GZIP",
        bufferingHints: { intervalInSeconds: bufferSeconds.valueAsNumber, sizeInMBs: bufferMb.valueAsNumber },
        encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: keyArn } },
        cloudWatchLoggingOptions: { enabled: true, logGroupName: firehoseLogs.ref, logStreamName: firehoseLogStream.ref },
      },
    });

    // ---------------------------------------------------------------- fraud state (detect)
    const fraudState = new dynamodb.CfnTable(this, "FraudStateTable", {
      billingMode: "PAY_PER_REQUEST",
      attributeDefinitions: [{ attributeName: "pk", attributeType: "S" }],
      keySchema: [{ attributeName: "pk", keyType: "HASH" }],
      timeToLiveSpecification: { attributeName: "expires_at", enabled: true },
      sseSpecification: { sseEnabled: true, sseType: "KMS", kmsMasterKeyId: keyArn },
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    });
    fraudState.applyRemovalPolicy(RemovalPolicy.RETAIN);

    // ---------------------------------------------------------------- rules layer
    const rulesLayer = new lambda.LayerVersion(this, "RulesLayer", {
      description: "Eddy rule packs (rules/*.yaml), read by the filter function from /opt",
      code: lambda.Code.fromAsset(path.join(props.repoRoot, "rules")),
      compatibleRuntimes: [lambda.Runtime.PROVIDED_AL2023],
      compatibleArchitectures: [lambda.Architecture.ARM_64],
      removalPolicy: RemovalPolicy.DESTROY,
    });
    overrideId(rulesLayer, "RulesLayer");

    // ---------------------------------------------------------------- functions
    const statement = (Sid: string, Action: string | string[], Resource: unknown) => ({ Sid, Effect: "Allow", Action, Resource });
    const sub = (s: string) => Fn.sub(s);

    interface Spec {
      description: string;
      source: kinesis.CfnStream;
      sourceName: string;
      statements: object[];
      environment: Record<string, string>;
      onFailure: string;
      checkov: Array<[string, string]>;
      layers?: lambda.ILayerVersion[];
      esm?: Partial<lambda.CfnEventSourceMappingProps>;
    }
    const specs: Record<FunctionName, Spec> = {
      archive: {
        description: "raw Kinesis stream -> Firehose (S3 raw/), bad records to the quarantine",
        source: raw,
        sourceName: "Raw",
        statements: [
          statement("Archive", "firehose:PutRecordBatch", delivery.attrArn),
          statement("Quarantine", "s3:PutObject", sub("${DataBucket.Arn}/quarantine/archive/*")),
          statement("FailedBatchesObjects", "s3:PutObject", sub("${DataBucket.Arn}/aws/lambda/*")),
          statement("FailedBatchesBucket", "s3:ListBucket", data.attrArn),
        ],
        environment: {
          EDDY_DELIVERY_STREAM: delivery.ref,
          EDDY_QUARANTINE_BUCKET: data.ref,
          EDDY_QUARANTINE_PREFIX: "quarantine/archive/",
        },
        // the archive is the raw copy: a batch it gives up on is kept whole in S3
        onFailure: data.attrArn,
        checkov: [
          ["CKV_AWS_116", "A dead-letter queue applies to asynchronous invocations; this function is invoked only by its Kinesis mapping, whose failed batches go to S3 (DestinationConfig)."],
          ["CKV_AWS_117", "It calls only AWS APIs (Kinesis, Firehose, S3) over TLS; a VPC would add NAT or endpoint cost and no protection."],
          ["CKV_AWS_115", NO_RESERVED],
        ],
      },
      enrich: {
        description: "raw Kinesis stream -> enriched stream (geo, user agent, service catalog, normalised fields)",
        source: raw,
        sourceName: "Raw",
        statements: [
          statement("WriteEnrichedStream", "kinesis:PutRecords", enriched.attrArn),
          statement("Quarantine", "s3:PutObject", sub("${DataBucket.Arn}/quarantine/enrich/*")),
          statement("Lookups", "s3:GetObject", sub("${DataBucket.Arn}/lookups/*")),
          statement("FailureQueue", "sqs:SendMessage", failureQueue.attrArn),
        ],
        environment: {
          EDDY_ENRICHED_STREAM: enriched.ref,
          EDDY_QUARANTINE_BUCKET: data.ref,
          EDDY_QUARANTINE_PREFIX: "quarantine/enrich/",
          EDDY_GEO_DB_S3: Fn.conditionIf(hasGeoDb.logicalId, sub("s3://${DataBucket}/${GeoDbKey}"), Aws.NO_VALUE).toString(),
          EDDY_ASN_DB_S3: Fn.conditionIf(hasAsnDb.logicalId, sub("s3://${DataBucket}/${AsnDbKey}"), Aws.NO_VALUE).toString(),
          EDDY_SERVICE_CATALOG_S3: Fn.conditionIf(hasCatalog.logicalId, sub("s3://${DataBucket}/${ServiceCatalogKey}"), Aws.NO_VALUE).toString(),
        },
        onFailure: failureQueue.attrArn,
        checkov: [["CKV_AWS_116", NOT_ASYNC], ["CKV_AWS_117", NO_VPC], ["CKV_AWS_115", NO_RESERVED]],
      },
      filter: {
        description: "enriched Kinesis stream -> alerts stream, by the rules in /opt/security.yaml",
        source: enriched,
        sourceName: "Enriched",
        statements: [
          statement("WriteAlertsStream", "kinesis:PutRecords", alerts.attrArn),
          statement("Quarantine", "s3:PutObject", sub("${DataBucket.Arn}/quarantine/filter/*")),
          statement("FailureQueue", "sqs:SendMessage", failureQueue.attrArn),
        ],
        environment: {
          EDDY_RULES_FILE: "/opt/security.yaml",
          EDDY_ALERTS_STREAM: alerts.ref,
          EDDY_QUARANTINE_BUCKET: data.ref,
          EDDY_QUARANTINE_PREFIX: "quarantine/filter/",
        },
        onFailure: failureQueue.attrArn,
        checkov: [["CKV_AWS_116", NOT_ASYNC], ["CKV_AWS_117", NO_VPC], ["CKV_AWS_115", NO_RESERVED]],
        layers: [rulesLayer],
        // generated by `eddy rules filter-criteria rules/security.yaml` (see template.yaml)
        esm: { filterCriteria: readFilterCriteria(props.repoRoot) },
      },
      detect: {
        description: "enriched Kinesis stream -> alerts stream, by fraud detectors over per-user, per-card and per-IP state in DynamoDB",
        source: enriched,
        sourceName: "Enriched",
        statements: [
          statement("FraudState", ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], fraudState.attrArn),
          statement("WriteAlertsStream", "kinesis:PutRecords", alerts.attrArn),
          statement("Quarantine", "s3:PutObject", sub("${DataBucket.Arn}/quarantine/detect/*")),
          statement("FailureQueue", "sqs:SendMessage", failureQueue.attrArn),
        ],
        environment: {
          EDDY_FRAUD_TABLE: fraudState.ref,
          EDDY_FRAUD_TTL_DAYS: fraudTtlDays.valueAsString,
          EDDY_ALERTS_STREAM: alerts.ref,
          EDDY_QUARANTINE_BUCKET: data.ref,
          EDDY_QUARANTINE_PREFIX: "quarantine/detect/",
        },
        onFailure: failureQueue.attrArn,
        checkov: [
          ["CKV_AWS_116", NOT_ASYNC],
          ["CKV_AWS_117", "It calls only AWS APIs (Kinesis, DynamoDB, S3) over TLS; a VPC would add NAT or endpoint cost and no protection."],
          ["CKV_AWS_115", NO_RESERVED],
        ],
        // only logins and card transactions reach the function (the others it would drop)
        esm: { filterCriteria: { filters: [{ pattern: '{"data":{"kind":["login","transaction"]}}' }] } },
      },
      aggregate: {
        description: "enriched Kinesis stream -> per-window reports (S3 reports/ and the reports stream)",
        source: enriched,
        sourceName: "Enriched",
        statements: [
          statement("WriteReportsStream", "kinesis:PutRecords", reports.attrArn),
          statement("ReportsLateQuarantine", "s3:PutObject", [
            sub("${DataBucket.Arn}/reports/*"),
            sub("${DataBucket.Arn}/late/*"),
            sub("${DataBucket.Arn}/quarantine/aggregate/*"),
          ]),
          statement("FailureQueue", "sqs:SendMessage", failureQueue.attrArn),
        ],
        environment: {
          EDDY_GROUP_BY: groupBy.valueAsString,
          EDDY_REPORTS_STREAM: reports.ref,
          EDDY_REPORTS_BUCKET: data.ref,
          EDDY_REPORTS_PREFIX: "reports/",
          EDDY_LATE_PREFIX: "late/",
          EDDY_QUARANTINE_BUCKET: data.ref,
          EDDY_QUARANTINE_PREFIX: "quarantine/aggregate/",
        },
        onFailure: failureQueue.attrArn,
        checkov: [
          ["CKV_AWS_116", NOT_ASYNC],
          ["CKV_AWS_117", NO_VPC],
          ["CKV_AWS_115", "Concurrency is bounded by the mapping (one batch per shard); reserving it would take from the account pool."],
        ],
        // one batch per shard at a time: the window state and the report's S3 key are per shard
        esm: { parallelizationFactor: 1, tumblingWindowInSeconds: tumblingWindow.valueAsNumber },
      },
    };

    // ---------------------------------------------------------------- alarm topic
    const alarmTopic = new sns.CfnTopic(this, "AlarmTopic", { kmsMasterKeyId: keyArn });
    const subscription = new sns.CfnSubscription(this, "AlarmEmailSubscription", {
      topicArn: alarmTopic.ref,
      protocol: "email",
      endpoint: alarmEmail.valueAsString,
    });
    subscription.cfnOptions.condition = hasAlarmEmail;

    for (const name of FUNCTIONS) {
      const spec = specs[name];
      const Name = capital(name);
      const group = logGroup(`${Name}LogGroup`);
      const role = new iam.CfnRole(this, `${Name}Role`, {
        assumeRolePolicyDocument: {
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
        },
        policies: [
          {
            policyName: name,
            policyDocument: {
              Version: "2012-10-17",
              Statement: [
                statement("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], group.attrArn),
                statement(`Read${spec.sourceName}Stream`, ESM_READ_ACTIONS, spec.source.attrArn),
                ...spec.statements,
                statement("Key", KEY_ACTIONS, keyArn),
              ],
            },
          },
        ],
      });
      const fn = new lambda.Function(this, `${Name}Function`, {
        description: spec.description,
        runtime: lambda.Runtime.PROVIDED_AL2023,
        architecture: lambda.Architecture.ARM_64,
        handler: "bootstrap",
        code: props.code(name),
        memorySize: memory[name].valueAsNumber,
        timeout: Duration.seconds(timeout.valueAsNumber),
        // the role above, as is: CDK adds no grants to an immutable role
        role: iam.Role.fromRoleArn(this, `${Name}RoleRef`, role.attrArn, { mutable: false }),
        environmentEncryption: kms.Key.fromKeyArn(this, `${Name}KeyRef`, keyArn),
        logGroup: logs.LogGroup.fromLogGroupName(this, `${Name}LogGroupRef`, group.ref),
        environment: spec.environment,
        layers: spec.layers,
      });
      const cfnFn = overrideId(fn, `${Name}Function`);
      checkovSkips(cfnFn, spec.checkov);

      new lambda.CfnEventSourceMapping(this, `${Name}Function${spec.sourceName}`, {
        functionName: fn.functionName,
        eventSourceArn: spec.source.attrArn,
        startingPosition: startingPosition.valueAsString,
        batchSize: batchSize.valueAsNumber,
        maximumBatchingWindowInSeconds: batchingWindow.valueAsNumber,
        parallelizationFactor: parallelization.valueAsNumber,
        functionResponseTypes: ["ReportBatchItemFailures"],
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: retries.valueAsNumber,
        maximumRecordAgeInSeconds: recordAge.valueAsNumber,
        destinationConfig: { onFailure: { destination: spec.onFailure } },
        ...spec.esm,
      });

      const alarm = (id: string, description: string, metric: string, statistic: string, period: number, evaluations: number, threshold: number) =>
        new cloudwatch.CfnAlarm(this, id, {
          alarmDescription: description,
          namespace: "AWS/Lambda",
          metricName: metric,
          dimensions: [{ name: "FunctionName", value: fn.functionName }],
          statistic,
          period,
          evaluationPeriods: evaluations,
          threshold,
          comparisonOperator: "GreaterThanThreshold",
          treatMissingData: "notBreaching",
          alarmActions: [alarmTopic.ref],
        });
      const source = spec.sourceName.toLowerCase();
      const lag = name === "aggregate" ? ` stream (oldest record age; includes the tumbling window)` : " stream (oldest record age)";
      alarm(`${Name}IteratorAgeAlarm`, `${name} is falling behind the ${source}${lag}`, "IteratorAge", "Maximum", 60, 5, iteratorAgeMs.valueAsNumber);
      alarm(`${Name}ErrorsAlarm`, `${name} invocations failed (whole batches retried)`, "Errors", "Sum", 300, 1, 0);
    }

    new cloudwatch.CfnAlarm(this, "FailureQueueDepthAlarm", {
      alarmDescription: "a Kinesis mapping gave up on a batch (its coordinates are in the on-failure queue)",
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: [{ name: "QueueName", value: failureQueue.attrQueueName }],
      statistic: "Maximum",
      period: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
      alarmActions: [alarmTopic.ref],
    });

    // ---------------------------------------------------------------- outputs
    const output = (id: string, value: string, description?: string) => new CfnOutput(this, id, { value, description });
    output("RawStreamName", raw.ref, "Producers put records here");
    output("RawStreamArn", raw.attrArn);
    output("EnrichedStreamName", enriched.ref);
    output("EnrichedStreamArn", enriched.attrArn);
    output("AlertsStreamName", alerts.ref, "Events that matched a rule or a fraud detector, with their alert");
    output("AlertsStreamArn", alerts.attrArn);
    output("ReportsStreamName", reports.ref, "One record per window report");
    output("ReportsStreamArn", reports.attrArn);
    output("DataBucketName", data.ref, "raw/ (archive), reports/, late/, quarantine/, lookups/, aws/lambda/ (failed archive batches)");
    output("DeliveryStreamName", delivery.ref);
    output("DeliveryStreamArn", delivery.attrArn);
    output("AlarmTopicArn", alarmTopic.ref, "Every alarm notifies this SNS topic");
    output("FailureQueueUrl", failureQueue.ref, "Coordinates of the batches enrich, filter, detect and aggregate gave up on");
    output("FraudStateTableName", fraudState.ref, "The detect function's per-user, per-card and per-IP state (TTL on expires_at)");
    output("FraudStateTableArn", fraudState.attrArn);
  }
}

/** Gives an L2 construct's CloudFormation resource the SAM template's logical ID. */
function overrideId(construct: Construct, logicalId: string): CfnResource {
  const resource = construct.node.defaultChild as CfnResource;
  resource.overrideLogicalId(logicalId);
  return resource;
}

/** The filter's FilterCriteria, as `eddy rules filter-criteria rules/security.yaml` printed them. */
export function readFilterCriteria(repoRoot: string): { filters: Array<{ pattern: string }> } {
  const file = path.join(repoRoot, "infra", "filter-criteria", "security.json");
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as { Filters: Array<{ Pattern: string }> };
  return { filters: parsed.Filters.map((f) => ({ pattern: f.Pattern })) };
}
