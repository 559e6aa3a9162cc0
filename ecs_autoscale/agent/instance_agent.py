#!/usr/bin/env python3
"""ecs-autoscale instance agent (stdlib only, Python 3.9+): pre-pulls the model image, completes the warm
pool's lifecycle hook, scales this instance in once the video queue is idle, halts a stack whose workers
cannot take videos. Run: instance_agent.py --config /etc/ecs-autoscale/agent.json"""
import argparse, base64, calendar, hashlib, hmac, json, os, random, subprocess, threading, time  # noqa: E401
import urllib.error, urllib.parse, urllib.request as ur  # noqa: E401 (one line each: the script travels in user data)

# The config (AgentSettings in ecs_autoscale/infra/user_data.py writes every key) may move these (tests).
DEFAULTS = dict(imds_url='http://169.254.169.254', introspection_url='http://localhost:51678',
                state_dir='/run/ecs-autoscale')
# service: (JSON protocol version or query API version, JSON target prefix), from the AWS API models
APIS = {'sqs': ('1.0', 'AmazonSQS'), 'ecs': ('1.1', 'AmazonEC2ContainerServiceV20141113'),
        'ecr': ('1.1', 'AmazonEC2ContainerRegistry_V20150921'), 'autoscaling': ('2011-01-01', ''),
        'sns': ('2010-03-31', '')}
COUNTS = ['ApproximateNumberOfMessages' + s for s in ('', 'NotVisible', 'Delayed')]  # waiting, in flight, delayed
# A video sent after the agent's last look is delayed DelaySeconds; the counts may lag 1 minute (SQS API
# Reference, GetQueueAttributes). Workers must be dead before delay - LAG after the look (10 s to kill them).
LAG = 70
LOCAL = ur.build_opener(ur.ProxyHandler({}))  # IMDS and the ECS agent: never through a proxy
log = print


class AwsError(Exception):
    pass


# ---- decisions (pure) ----

def idle_clock(idle_since, counts, now):
    """Since when all counts were 0 at every look; None: not idle, or unknown."""
    return None if counts is None or any(counts) else now if idle_since is None else idle_since


def scale_in_due(idle_since, now, idle_seconds):
    return idle_since is not None and now - idle_since >= idle_seconds


def recent_exits(exits, now, window):
    """{task: (epoch, reason)} -> reasons of the exits within `window` seconds, oldest first."""
    return [r for t, r in sorted(v for v in exits.values() if now - v[0] <= window)]


def halt_reason(counts, exits, threshold, registered, waited, register_timeout):
    """Videos wait, none is in flight (no worker anywhere takes one), and this instance's workers keep
    exiting or it never joined the cluster: why to halt, else None."""
    if counts and counts[0] and not counts[1]:
        if len(exits) >= threshold:
            return '%d worker exits, last: %s' % (len(exits), exits[-1])
        if not registered and waited >= register_timeout:
            return 'instance never joined the cluster (%d s)' % waited


def sign(url, headers, body, region, service, creds, now):
    """SigV4 headers of a POST without query (IAM User Guide, "Create a signed AWS API request").
    creds: (key id, secret, session token or None)."""
    stamp, u = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now)), urllib.parse.urlsplit(url)
    h = {k.lower(): ' '.join(v.split()) for k, v in headers.items()}
    h.update({'host': u.netloc, 'x-amz-date': stamp}, **({'x-amz-security-token': creds[2]} if creds[2] else {}))
    names = ';'.join(sorted(h))
    req = '\n'.join(['POST', u.path or '/', '',  # the agent's paths need no encoding
                     ''.join('%s:%s\n' % kv for kv in sorted(h.items())), names, hashlib.sha256(body).hexdigest()])
    scope = '%s/%s/%s/aws4_request' % (stamp[:8], region, service)
    key = ('AWS4' + creds[1]).encode()
    for part in scope.split('/'):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    text = 'AWS4-HMAC-SHA256\n%s\n%s\n%s' % (stamp, scope, hashlib.sha256(req.encode()).hexdigest())
    h['authorization'] = 'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s' % (
        creds[0], scope, names, hmac.new(key, text.encode(), hashlib.sha256).hexdigest())
    return h


def docker(*args, stdin=None, timeout=900):
    try:
        p = subprocess.run(('docker',) + args, input=stdin, capture_output=True, text=True, timeout=timeout)
        return p.returncode, (p.stdout or p.stderr).strip()
    except Exception as e:
        return -1, str(e)


class Agent:
    def __init__(self, cfg):
        vars(self).update(DEFAULTS, **cfg)  # the settings become attributes
        self.started = time.time()
        self.iid = self.queue = self.idle = self.seen = None
        self.delay = 0
        self.creds = (0, None)
        self.exits, self.killed = {}, set()
        self.in_service = not self.lifecycle_hook_name
        self.warm = self.registered = self.draining = self.halted = self.pulling = False
        self.marker = os.path.join(self.state_dir, 'terminated')
        self.done = os.path.exists(self.marker)

    def imds(self, path):  # IMDSv2: a session token, then the GET (EC2 User Guide, "Access instance metadata")
        url = self.imds_url + '/latest/'
        token = LOCAL.open(ur.Request(url + 'api/token', method='PUT', headers={
            'X-aws-ec2-metadata-token-ttl-seconds': '60'}), timeout=3).read()
        return LOCAL.open(ur.Request(url + path, headers={'X-aws-ec2-metadata-token': token}),
                          timeout=3).read().decode().strip()

    def call(self, service, action, params, region=None):
        """An AWS API call, retried with backoff on throttling, 5xx and network errors. Returns the parsed
        JSON, or the XML text for query APIs. Raises AwsError."""
        version, target = APIS[service]
        region = region or self.region
        host = 'api.ecr' if service == 'ecr' else service
        url = self.endpoint_url or 'https://%s.%s.%s' % (host, region, self.domain)
        if target:
            body = json.dumps(params).encode()
            headers = {'Content-Type': 'application/x-amz-json-' + version, 'X-Amz-Target': target + '.' + action}
        else:
            body = urllib.parse.urlencode(dict(params, Action=action, Version=version)).encode()
            headers = {'Content-Type': 'application/x-www-form-urlencoded'}
        for attempt in range(4):
            try:
                if time.time() - self.creds[0] > 240:  # role credentials renew >= 5 min before they expire
                    path = 'meta-data/iam/security-credentials/'
                    d = json.loads(self.imds(path + self.imds(path).split()[0]))
                    self.creds = (time.time(), (d['AccessKeyId'], d['SecretAccessKey'], d.get('Token')))
                with ur.urlopen(ur.Request(url, body, sign(url, headers, body, region, service, self.creds[1],
                                                          time.time())), timeout=10) as r:
                    data = r.read().decode()
                return json.loads(data or '{}') if target else data
            except urllib.error.HTTPError as e:  # the body names the error (code and message)
                err = 'HTTP %d %s' % (e.code, e.read().decode(errors='replace')[:300])
                retry = e.code >= 500 or 'Throttl' in err or 'LimitExceeded' in err
            except Exception as e:  # network, timeout, IMDS
                err, retry = '%s: %s' % (type(e).__name__, e), True
            if not retry or attempt == 3:
                raise AwsError(err)
            time.sleep(2 ** attempt * random.uniform(0.5, 1))

    def pull(self):
        """Pre-pull the image: ECS (ECS_IMAGE_PULL_BEHAVIOR=prefer-cached) then starts from the cache. The
        systemd unit starts after docker (Wants=, After=docker.service)."""
        registry = self.ecr_registry
        try:
            if registry:  # <account>.dkr.ecr.<region>.amazonaws.com: a token of that region's ECR
                data = self.call('ecr', 'GetAuthorizationToken', {}, registry.split('.')[3])
                user, pw = base64.b64decode(data['authorizationData'][0]['authorizationToken']).decode().split(':', 1)
                rc, out = docker('login', '-u', user, '--password-stdin', 'https://' + registry, stdin=pw)
                log('docker login %s: %s' % (registry, out))
            t = time.time()
            rc, out = docker('pull', self.image)
            log('pulled %s in %d s' % (self.image, time.time() - t) if rc == 0 else 'pull failed: ' + out[-300:])
        except Exception as e:
            log('pull: %s' % e)

    def hook(self):
        try:
            self.call('autoscaling', 'CompleteLifecycleAction', {
                'LifecycleHookName': self.lifecycle_hook_name, 'AutoScalingGroupName': self.asg_name,
                'InstanceId': self.iid, 'LifecycleActionResult': 'CONTINUE'})
            log('lifecycle hook completed')
        except AwsError as e:
            log('lifecycle hook: %s' % e)

    def lifecycle(self):
        # With a warm pool the launch hook pauses both the launch into the pool and the move to InService;
        # IMDS says which (Auto Scaling User Guide, "Retrieve the target lifecycle state through instance
        # metadata"). Warmed: pre-pull, then let the group stop (or keep) the instance.
        if not self.in_service:
            state = self.imds('meta-data/autoscaling/target-lifecycle-state')
            if state.startswith('Warmed:') and not self.warm:
                log(state + ': pre-pulling the image')
                self.pull()
                self.hook()
                self.warm = True
            elif state == 'InService':
                self.hook()
                self.in_service, self.started = True, time.time()
        if self.in_service and not self.pulling:
            self.pulling = True
            threading.Thread(target=self.pull, daemon=True).start()
        return self.in_service

    def counts(self):  # (waiting, in flight, delayed) videos, or None; and the queue's DelaySeconds
        try:
            a = self.call('sqs', 'GetQueueAttributes', {'QueueUrl': self.queue,
                                                        'AttributeNames': COUNTS + ['DelaySeconds']})['Attributes']
            self.delay = int(a['DelaySeconds'])
            return tuple(int(a[k]) for k in COUNTS)
        except Exception as e:
            log('queue: %s' % e)

    def agent(self, what):  # ECS agent introspection (ECS Developer Guide, "Amazon ECS container introspection")
        try:
            return json.loads(LOCAL.open(self.introspection_url + '/v1/' + what, timeout=5).read())
        except Exception:
            return None

    def tasks(self, tasks, stopped):
        return [t for t in (tasks or {}).get('Tasks') or [] if t.get('Family') in self.task_families
                and (t.get('KnownStatus') == 'STOPPED') == stopped]

    def note_exits(self, tasks, now):  # introspection has no exit codes: docker has
        for t in self.tasks(tasks, True):
            ids = [c['DockerId'] for c in t.get('Containers') or [] if c.get('DockerId')]
            if t['Arn'] not in self.exits and not self.killed.intersection(ids):
                when, why = now, 'task stopped before its container ran'
                for i in ids:
                    out = docker('inspect', '-f', '{{.State.ExitCode}}|{{.State.FinishedAt}}|{{.State.Error}}', i)[1]
                    try:  # FinishedAt is RFC 3339 UTC; docker's zero time if the container never ran
                        code, end, error = out.split('|', 2)
                        when = max(calendar.timegm(time.strptime(end[:19], '%Y-%m-%dT%H:%M:%S')), 0) or now
                        why = ('exit code %s %s' % (code, error)).strip()
                    except ValueError:  # no such container any more
                        pass
                self.exits[t['Arn']] = (when, why)

    def set_state(self, arn, status):
        try:
            out = self.call('ecs', 'UpdateContainerInstancesState', {
                'cluster': self.cluster_name, 'containerInstances': [arn], 'status': status})
            if out.get('failures'):
                raise AwsError(out['failures'])
            self.draining = status == 'DRAINING'
            return True
        except AwsError as e:
            log('container instance %s: %s' % (status, e))

    def scale_in(self, arn, tasks, looked):
        if arn and not self.set_state(arn, 'DRAINING'):
            return
        ids = [c['DockerId'] for t in self.tasks(tasks, False) for c in t.get('Containers') or [] if c.get('DockerId')]
        if time.time() - looked > self.delay - LAG:  # AWS was slow: a video sent since the look may reach a worker
            log('%d s after the look, DelaySeconds %d: not killing' % (time.time() - looked, self.delay))
            again = None
        else:
            if ids:
                self.killed.update(ids)
                log('docker kill %s: %s' % (' '.join(ids), docker('kill', *ids, timeout=60)[1]))
            again = self.counts()  # a video sent since the look is still delayed, and no worker here takes it
        if again == (0, 0, 0):
            try:
                self.call('autoscaling', 'TerminateInstanceInAutoScalingGroup', {
                    'InstanceId': self.iid, 'ShouldDecrementDesiredCapacity': 'true'})
                log('queue %s: terminating, desired capacity -1' % (again,))
                self.done = True
                os.makedirs(self.state_dir, exist_ok=True)
                return open(self.marker, 'w').close()
            except AwsError as e:
                log('terminate: %s' % e)
        log('queue %s: staying' % (again,))
        self.idle = None
        if arn:
            self.set_state(arn, 'ACTIVE')

    def halt(self, why):  # the group to 0 until `ecs-autoscale resume`; why: on a group tag and by SNS
        stamp = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        tag = dict(ResourceId=self.asg_name, ResourceType='auto-scaling-group', Key='ecs-autoscale:halted',
                   Value=(stamp + ' ' + why)[:256], PropagateAtLaunch='false')
        calls = [('autoscaling', 'UpdateAutoScalingGroup', {
            'AutoScalingGroupName': self.asg_name, 'MinSize': 0, 'MaxSize': 0, 'DesiredCapacity': 0}),
            ('autoscaling', 'CreateOrUpdateTags', {'Tags.member.1.' + k: v for k, v in tag.items()}),
            ('sns', 'Publish', {
                'TopicArn': 'arn:%s:sns:%s:%s:%s' % (self.partition, self.region, self.account, self.topic_name),
                'Subject': self.stack_name + ' halted: workers cannot take videos', 'Message':
                '%s halted at %s: %s.\nIts group %s is at 0 instances; queued videos are kept.\nFix: check the '
                'image %s and the model files (logs: /ecs/%s), then `ecs-autoscale resume STACK_DIR` or redeploy.'
                % (self.stack_name, stamp, why, self.asg_name, self.image, self.stack_name)})]
        for service, action, params in calls:  # the group first, retried next cycle until done; then once each
            try:
                self.call(service, action, params)
                self.halted = True
            except AwsError as e:
                log('halt: %s' % e)
                if not self.halted:
                    return

    def cycle(self):
        if self.done:
            return
        if not self.iid:
            d = json.loads(self.imds('dynamic/instance-identity/document'))
            self.iid, self.account = d['instanceId'], d['accountId']
            # amazonaws.com(.cn), aws(-cn, -us-gov...): EC2 User Guide, "Instance metadata categories"
            self.domain, self.partition = (self.imds('meta-data/services/' + k) for k in ('domain', 'partition'))
        self.queue = self.queue or self.call('sqs', 'GetQueueUrl', {'QueueName': self.queue_name})['QueueUrl']
        if not self.lifecycle():
            return
        now, counts, meta, tasks = time.time(), self.counts(), self.agent('metadata'), self.agent('tasks')
        arn, waited = (meta or {}).get('ContainerInstanceArn'), now - self.started
        self.registered |= bool(arn)
        if self.draining and arn:
            self.set_state(arn, 'ACTIVE')
        self.idle = idle_clock(self.idle, counts, now)
        if counts != self.seen:
            self.seen = counts
            log('queue waiting/in flight/delayed %s%s' % (counts, '' if arn else ', not in the cluster'))
        self.note_exits(tasks, now)
        why = halt_reason(counts, recent_exits(self.exits, now, self.crash_window_seconds), self.crash_loop_exits,
                          self.registered, waited, self.register_timeout_seconds)
        if why and not self.halted:
            log('queue %s: HALT: %s' % (counts, why))
            self.halt(why)
        # Registered: drain and kill, then terminate. Unregistered long after boot: no task can run here.
        elif scale_in_due(self.idle, now, self.idle_seconds) and (
                arn or meta is not None and waited >= self.register_timeout_seconds):
            log('queue %s for %d s: scale-in' % (counts, now - self.idle))
            self.scale_in(arn, tasks, now)

    def run(self, cycles=None):
        n = 0
        while cycles is None or n < cycles and not self.done:
            try:
                self.cycle()
            except Exception as e:  # never die: log, retry next cycle
                log('cycle: %s: %s' % (type(e).__name__, e))
            n += 1
            time.sleep(self.poll_seconds)


if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--config', default='/etc/ecs-autoscale/agent.json')
    p.add_argument('--cycles', type=int)  # stop after N cycles (tests)
    a = p.parse_args()
    with open(a.config) as f:
        Agent(json.load(f)).run(a.cycles)
