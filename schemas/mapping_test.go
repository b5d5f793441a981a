package schemas_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lifecycle-engine/lifecycle/schemas"
)

// Payloads as the trackers' public specs document them. Each is the
// spec's example as published, or says what was put around it.

// segTrack is the "complete example of a track call" of Segment's Spec:
// Track, https://segment.com/docs/connections/spec/track/ (the source:
// https://github.com/segmentio/segment-docs/blob/develop/src/connections/spec/track.md).
const segTrack = `{
  "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
  "context": {
    "library": {"name": "analytics.js", "version": "2.11.1"},
    "page": {"path": "/academy/", "referrer": "", "search": "", "title": "Analytics Academy", "url": "https://segment.com/academy/"},
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/46.0.2490.86 Safari/537.36",
    "ip": "108.0.78.21"
  },
  "event": "Course Clicked",
  "integrations": {},
  "messageId": "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
  "properties": {"title": "Intro to Analytics"},
  "receivedAt": "2015-12-12T19:11:01.266Z",
  "sentAt": "2015-12-12T19:11:01.169Z",
  "timestamp": "2015-12-12T19:11:01.249Z",
  "type": "track",
  "userId": "AiUGstSDIg",
  "originalTimestamp": "2015-12-12T19:11:01.152Z"
}`

// segAnonymousTrack is segTrack as Segment sends it for a visitor not yet
// identified: "Every identify call must have a User ID or an Anonymous
// ID" (https://segment.com/docs/connections/spec/identify/#identities);
// analytics-ruby writes the absent one as null
// (https://pastebin.com/LpULqYMF), here the userId.
var segAnonymousTrack = strings.Replace(segTrack, `"userId": "AiUGstSDIg"`, `"userId": null`, 1)

// segOrderCompleted is the "Order Completed" example of Segment's Spec: V2
// Ecommerce Events,
// https://segment.com/docs/connections/spec/ecommerce/v2/#order-completed
// (analytics.track('Order Completed', {…}), its properties as given
// there), in the envelope of a track call from Spec: Track's complete
// example (messageId, timestamp, userId and the rest, with values of our
// own).
const segOrderCompleted = `{
  "anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",
  "context": {"library": {"name": "analytics.js", "version": "2.11.1"}, "ip": "108.0.78.21"},
  "event": "Order Completed",
  "integrations": {},
  "messageId": "ajs-5c1e1ae0b2e24f51bd4a2b5d7a0e6f31",
  "properties": {
    "checkout_id": "fksdjfsdjfisjf9sdfjsd9f",
    "order_id": "50314b8e9bcf000000000000",
    "affiliation": "Google Store",
    "total": 27.50,
    "subtotal": 22.50,
    "revenue": 25.00,
    "shipping": 3,
    "tax": 2,
    "discount": 2.5,
    "coupon": "hasbros",
    "currency": "USD",
    "products": [
      {"product_id": "507f1f77bcf86cd799439011", "sku": "45790-32", "name": "Monopoly: 3rd Edition", "price": 19, "quantity": 1, "category": "Games", "url": "https://www.example.com/product/path", "image_url": "https:///www.example.com/product/path.jpg"},
      {"product_id": "505bd76785ebb509fc183733", "sku": "46493-32", "name": "Uno Card Game", "price": 3, "quantity": 2, "category": "Games"}
    ]
  },
  "receivedAt": "2015-12-12T19:20:01.266Z",
  "sentAt": "2015-12-12T19:20:01.169Z",
  "timestamp": "2015-12-12T19:20:01.249Z",
  "type": "track",
  "userId": "AiUGstSDIg",
  "originalTimestamp": "2015-12-12T19:20:01.152Z"
}`

// segIdentify is the "complete example of an identify call" of Segment's
// Spec: Identify, https://segment.com/docs/connections/spec/identify/.
const segIdentify = `{
  "anonymousId": "507f191e810c19729de860ea",
  "channel": "browser",
  "context": {
    "ip": "8.8.8.8",
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/40.0.2214.115 Safari/537.36"
  },
  "integrations": {"All": false, "Mixpanel": true, "Salesforce": true},
  "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
  "receivedAt": "2015-02-23T22:28:55.387Z",
  "sentAt": "2015-02-23T22:28:55.111Z",
  "timestamp": "2015-02-23T22:28:55.111Z",
  "traits": {
    "name": "Peter Gibbons",
    "email": "peter@example.com",
    "plan": "premium",
    "logins": 5,
    "address": {"street": "6th St", "city": "San Francisco", "state": "CA", "postalCode": "94103", "country": "USA"}
  },
  "type": "identify",
  "userId": "97980cfea0067",
  "version": "1.1"
}`

// segPage is the "complete example of a page call" of Segment's Spec:
// Page, https://segment.com/docs/connections/spec/page/.
const segPage = `{
  "anonymousId": "507f191e810c19729de860ea",
  "channel": "browser",
  "context": {
    "ip": "8.8.8.8",
    "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/40.0.2214.115 Safari/537.36"
  },
  "integrations": {"All": true, "Mixpanel": false, "Salesforce": false},
  "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
  "name": "Home",
  "properties": {"title": "Welcome | Initech", "url": "http://www.example.com"},
  "receivedAt": "2015-02-23T22:28:55.387Z",
  "sentAt": "2015-02-23T22:28:55.111Z",
  "timestamp": "2015-02-23T22:28:55.111Z",
  "type": "page",
  "userId": "97980cfea0067",
  "version": "1.1"
}`

// rsIdentify is the sample identify payload of RudderStack's Event Spec,
// https://www.rudderstack.com/docs/event-spec/standard-events/identify/
// ("after removing common fields"), with the common fields put back as
// https://www.rudderstack.com/docs/event-spec/standard-events/common-fields/
// describes them for what an SDK sends: anonymousId, channel, messageId,
// originalTimestamp and sentAt, but no timestamp (RudderStack computes
// that on receipt).
const rsIdentify = `{
  "type": "identify",
  "context": {
    "traits": {"name": "Richard Hendricks", "email": "rhedricks@example.com", "logins": 2},
    "library": {"name": "RudderLabs JavaScript SDK", "version": "1.0.0"}
  },
  "userId": "27340af5c8819",
  "anonymousId": "8d872292709c6fbe",
  "channel": "web",
  "messageId": "1a2b3c4d-0000-4000-8000-27340af5c881",
  "originalTimestamp": "2022-02-01T19:14:18.381Z",
  "sentAt": "2022-02-01T19:14:18.381Z"
}`

// rsOrderCompleted is the "Order Completed" example of RudderStack's
// Ecommerce Events Specification,
// https://www.rudderstack.com/docs/event-spec/ecommerce-events-spec/ordering/#order-completed
// (rudderanalytics.track('Order Completed', {…}), its properties as
// given there), in the common fields as received by RudderStack
// (receivedAt and timestamp set).
const rsOrderCompleted = `{
  "type": "track",
  "event": "Order Completed",
  "properties": {
    "checkout_id": "12345",
    "order_id": "1234",
    "affiliation": "Apple Store",
    "total": 20,
    "revenue": 15.00,
    "shipping": 22,
    "tax": 1,
    "discount": 1.5,
    "coupon": "ImagePro",
    "currency": "USD",
    "products": [
      {"product_id": "123", "sku": "G-32", "name": "Monopoly", "price": 14, "quantity": 1, "category": "Games", "url": "https://www.website.com/product/path", "image_url": "https://www.website.com/product/path.jpg"},
      {"product_id": "345", "sku": "F-32", "name": "UNO", "price": 3.45, "quantity": 2, "category": "Games"}
    ]
  },
  "userId": "27340af5c8819",
  "anonymousId": "8d872292709c6fbe",
  "channel": "web",
  "context": {"library": {"name": "RudderLabs JavaScript SDK", "version": "1.0.0"}},
  "messageId": "5e6f7a8b-0000-4000-8000-27340af5c882",
  "originalTimestamp": "2022-02-01T19:20:00.000Z",
  "sentAt": "2022-02-01T19:20:00.100Z",
  "receivedAt": "2022-02-01T19:20:00.300Z",
  "timestamp": "2022-02-01T19:20:00.200Z"
}`

// rsPage is the sample page payload of RudderStack's Event Spec,
// https://www.rudderstack.com/docs/event-spec/standard-events/page/, with
// the common fields as for rsOrderCompleted.
const rsPage = `{
  "type": "page",
  "name": "Home",
  "properties": {"title": "Home | RudderStack", "url": "http://www.rudderstack.com"},
  "userId": "27340af5c8819",
  "anonymousId": "8d872292709c6fbe",
  "channel": "web",
  "context": {"library": {"name": "RudderLabs JavaScript SDK", "version": "1.0.0"}},
  "messageId": "9c0d1e2f-0000-4000-8000-27340af5c883",
  "originalTimestamp": "2022-02-01T19:15:00.000Z",
  "sentAt": "2022-02-01T19:15:00.100Z",
  "receivedAt": "2022-02-01T19:15:00.300Z",
  "timestamp": "2022-02-01T19:15:00.200Z"
}`

func preset(name string) *schemas.Mapping { return &schemas.Mapping{Preset: name} }

func mustTime(t *testing.T, s string) int64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMilli()
}

func mapped(t *testing.T, cfg schemas.DecoderConfig, key, value string) (schemas.Event, *schemas.RejectError) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ev, err := schemas.NewDecoder(cfg).Decode([]byte(key), []byte(value))
	if err == nil {
		return ev, nil
	}
	var rej *schemas.RejectError
	if !errors.As(err, &rej) {
		t.Fatalf("error %v (%T), want a *RejectError", err, err)
	}
	if n := len(rej.Error()); n > schemas.MaxReasonBytes {
		t.Errorf("reason of %d bytes: %s", n, rej.Error())
	}
	return ev, rej
}

// TestMappingPresetsOnSpecPayloads decodes the trackers' own examples with
// their presets: purchases with their revenue and currency, identify as a
// login, track and page calls as content, the user id falling back to
// the anonymous id, and the time to originalTimestamp.
func TestMappingPresetsOnSpecPayloads(t *testing.T) {
	for _, tc := range []struct {
		name, preset, key, value string
		want                     schemas.Event
	}{
		{"segment track", "segment", "AiUGstSDIg", segTrack, schemas.Event{
			ID: "ajs-f8ca1e4de5024d9430b3928bd8ac6b96", UserID: "AiUGstSDIg", Type: schemas.Content,
			Time: mustTime(t, "2015-12-12T19:11:01.249Z"), Kind: "Course Clicked"}},
		{"segment order completed: revenue, not total", "segment", "AiUGstSDIg", segOrderCompleted, schemas.Event{
			ID: "ajs-5c1e1ae0b2e24f51bd4a2b5d7a0e6f31", UserID: "AiUGstSDIg", Type: schemas.Purchase,
			Time: mustTime(t, "2015-12-12T19:20:01.249Z"), Amount: 25_000_000}},
		{"segment identify is a login", "segment", "97980cfea0067", segIdentify, schemas.Event{
			ID: "022bb90c-bbac-11e4-8dfc-aa07a5b093db", UserID: "97980cfea0067", Type: schemas.Login,
			Time: mustTime(t, "2015-02-23T22:28:55.111Z")}},
		{"segment page is content, kind its name", "segment", "97980cfea0067", segPage, schemas.Event{
			ID: "022bb90c-bbac-11e4-8dfc-aa07a5b093db", UserID: "97980cfea0067", Type: schemas.Content,
			Time: mustTime(t, "2015-02-23T22:28:55.111Z"), Kind: "Home"}},
		{"segment: no userId, the anonymousId", "segment", "23adfd82-aa0f-45a7-a756-24f2a7a4c895", segAnonymousTrack, schemas.Event{
			ID: "ajs-f8ca1e4de5024d9430b3928bd8ac6b96", UserID: "23adfd82-aa0f-45a7-a756-24f2a7a4c895", Type: schemas.Content,
			Time: mustTime(t, "2015-12-12T19:11:01.249Z"), Kind: "Course Clicked"}},
		{"segment: no currency is USD", "segment", "AiUGstSDIg", strings.Replace(segOrderCompleted, `"currency": "USD",`, "", 1), schemas.Event{
			ID: "ajs-5c1e1ae0b2e24f51bd4a2b5d7a0e6f31", UserID: "AiUGstSDIg", Type: schemas.Purchase,
			Time: mustTime(t, "2015-12-12T19:20:01.249Z"), Amount: 25_000_000}},
		{"segment: total when there is no revenue", "segment", "AiUGstSDIg", strings.Replace(segOrderCompleted, `"revenue": 25.00,`, "", 1), schemas.Event{
			ID: "ajs-5c1e1ae0b2e24f51bd4a2b5d7a0e6f31", UserID: "AiUGstSDIg", Type: schemas.Purchase,
			Time: mustTime(t, "2015-12-12T19:20:01.249Z"), Amount: 27_500_000}},
		{"rudderstack identify: a login at originalTimestamp", "rudderstack", "27340af5c8819", rsIdentify, schemas.Event{
			ID: "1a2b3c4d-0000-4000-8000-27340af5c881", UserID: "27340af5c8819", Type: schemas.Login,
			Time: mustTime(t, "2022-02-01T19:14:18.381Z")}},
		{"rudderstack order completed", "rudderstack", "27340af5c8819", rsOrderCompleted, schemas.Event{
			ID: "5e6f7a8b-0000-4000-8000-27340af5c882", UserID: "27340af5c8819", Type: schemas.Purchase,
			Time: mustTime(t, "2022-02-01T19:20:00.200Z"), Amount: 15_000_000}},
		{"rudderstack page", "rudderstack", "27340af5c8819", rsPage, schemas.Event{
			ID: "9c0d1e2f-0000-4000-8000-27340af5c883", UserID: "27340af5c8819", Type: schemas.Content,
			Time: mustTime(t, "2022-02-01T19:15:00.200Z"), Kind: "Home"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, rej := mapped(t, schemas.DecoderConfig{Mapping: preset(tc.preset)}, tc.key, tc.value)
			if rej != nil {
				t.Fatalf("rejected: %v (%s)", rej, rej.Reason)
			}
			if ev != tc.want {
				t.Errorf("got  %+v\nwant %+v", ev, tc.want)
			}
		})
	}
}

// TestMappingRejects: what does not map, or maps to a bad event, is
// rejected with its code and the path it read.
func TestMappingRejects(t *testing.T) {
	custom := &schemas.Mapping{
		Types: []schemas.TypeRule{
			{Type: "purchase", When: `event in ("Order Completed", "Purchase")`},
			{Type: "login", When: `type == "identify" or event == "Signed In"`},
		},
		Fields: schemas.MappedFields{EventID: []string{"messageId"}, UserID: []string{"userId", "anonymousId"},
			Time: []string{"timestamp"}, Amount: []string{"properties.revenue"}, Currency: []string{"properties.currency"}},
	}
	for _, tc := range []struct {
		name     string
		cfg      schemas.DecoderConfig
		key, val string
		reason   schemas.Reason
		field    string
		says     string // in the sentence
	}{
		{"unmapped: no rule matches a page, otherwise unmapped (the default)", schemas.DecoderConfig{Mapping: custom}, "97980cfea0067", segPage,
			schemas.ReasonUnmapped, "", `matches none of the 2 rules of inputs.types (event missing, type "page"); inputs.otherwise is unmapped`},
		{"ignored: segment's group call, by the preset's otherwise", schemas.DecoderConfig{Mapping: preset("segment")}, "97980cfea0067",
			`{"type":"group","groupId":"0e8c78ea9d97a7b8185e8632","userId":"97980cfea0067","messageId":"m-1","timestamp":"2015-02-23T22:28:55.111Z"}`,
			schemas.ReasonIgnored, "", "matches none of the 3 rules of inputs.types; inputs.otherwise is ignore"},
		{"key mismatch names the path of the user id", schemas.DecoderConfig{Mapping: preset("segment")}, "someone-else", segTrack,
			schemas.ReasonKeyMismatch, "userId", `"AiUGstSDIg" does not match the record key "someone-else"`},
		{"key mismatch: the anonymous id is the user id when there is no userId", schemas.DecoderConfig{Mapping: preset("segment")}, "AiUGstSDIg", segAnonymousTrack,
			schemas.ReasonKeyMismatch, "anonymousId", `"23adfd82-aa0f-45a7-a756-24f2a7a4c895" does not match`},
		{"no user id at all", schemas.DecoderConfig{Mapping: preset("segment")}, "",
			strings.Replace(segAnonymousTrack, `"anonymousId": "23adfd82-aa0f-45a7-a756-24f2a7a4c895",`, "", 1),
			schemas.ReasonMissingField, "userId", "is missing, null or empty, and so is anonymousId"},
		{"no messageId", schemas.DecoderConfig{Mapping: preset("segment")}, "AiUGstSDIg",
			strings.Replace(segTrack, `"messageId": "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",`, "", 1), schemas.ReasonMissingField, "messageId", "is missing"},
		{"rudderstack: no currency, no default", schemas.DecoderConfig{Mapping: preset("rudderstack")}, "27340af5c8819",
			strings.Replace(rsOrderCompleted, `"currency": "USD",`, "", 1), schemas.ReasonMissingField, "properties.currency", "a purchase needs the accounting currency"},
		{"other currency", schemas.DecoderConfig{Currency: "EUR", Mapping: preset("segment")}, "AiUGstSDIg", segOrderCompleted,
			schemas.ReasonWrongCurrency, "properties.currency", `"USD" is not the accounting currency "EUR"`},
		{"segment's default USD is not the accounting currency", schemas.DecoderConfig{Currency: "EUR", Mapping: preset("segment")}, "AiUGstSDIg",
			strings.Replace(segOrderCompleted, `"currency": "USD",`, "", 1), schemas.ReasonWrongCurrency, "properties.currency", `default_currency "USD"`},
		{"no amount", schemas.DecoderConfig{Mapping: preset("segment")}, "AiUGstSDIg",
			strings.NewReplacer(`"revenue": 25.00,`, "", `"total": 27.50,`, "").Replace(segOrderCompleted), schemas.ReasonMissingField, "properties.revenue", "and so is properties.total"},
		{"negative revenue (a refund sent as Order Completed)", schemas.DecoderConfig{Mapping: preset("segment")}, "AiUGstSDIg",
			strings.Replace(segOrderCompleted, `"revenue": 25.00,`, `"revenue": -25.00,`, 1), schemas.ReasonBadAmount, "properties.revenue", "is negative"},
		{"bad time", schemas.DecoderConfig{Mapping: preset("segment")}, "AiUGstSDIg",
			strings.Replace(segTrack, `"timestamp": "2015-12-12T19:11:01.249Z"`, `"timestamp": "yesterday"`, 1), schemas.ReasonBadTimestamp, "timestamp", `"yesterday"`},
		{"a user id that is a number", schemas.DecoderConfig{Mapping: preset("segment")}, "42",
			strings.Replace(segTrack, `"userId": "AiUGstSDIg"`, `"userId": 42`, 1), schemas.ReasonWrongType, "userId", "is a number"},
		{"not JSON is still malformed_json", schemas.DecoderConfig{Mapping: preset("segment")}, "u", `{"type":`, schemas.ReasonMalformedJSON, "", "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, rej := mapped(t, tc.cfg, tc.key, tc.val)
			if rej == nil {
				t.Fatalf("accepted as %+v; want %s", ev, tc.reason)
			}
			if rej.Reason != tc.reason || rej.Field != tc.field || !strings.Contains(rej.Error(), tc.says) {
				t.Errorf("got %s field %q: %s\nwant %s field %q, saying %q", rej.Reason, rej.Field, rej.Error(), tc.reason, tc.field, tc.says)
			}
		})
	}
}

// TestMappingOtherwise: the rest is content, ignored, or unmapped, as
// configured; a rule can also ignore.
func TestMappingOtherwise(t *testing.T) {
	rules := []schemas.TypeRule{
		{Type: "purchase", When: `event in ("Order Completed", "Purchase")`},
		{Type: "login", When: `type == "identify" or event == "Signed In"`},
	}
	for _, tc := range []struct {
		otherwise string
		rules     []schemas.TypeRule
		want      schemas.EventType
		reason    schemas.Reason
	}{
		{"content", rules, schemas.Content, ""},
		{"ignore", rules, 0, schemas.ReasonIgnored},
		{"unmapped", rules, 0, schemas.ReasonUnmapped},
		{"", rules, 0, schemas.ReasonIgnored}, // the preset's
		{"content", append(rules, schemas.TypeRule{Type: "ignore", When: `type == "page"`}), 0, schemas.ReasonIgnored},
	} {
		m := &schemas.Mapping{Preset: "segment", Types: tc.rules, Otherwise: tc.otherwise}
		ev, rej := mapped(t, schemas.DecoderConfig{Mapping: m}, "97980cfea0067", segPage)
		switch {
		case tc.reason == "" && (rej != nil || ev.Type != tc.want):
			t.Errorf("otherwise %q, %d rules: page is %v %v; want %v", tc.otherwise, len(tc.rules), ev.Type, rej, tc.want)
		case tc.reason != "" && (rej == nil || rej.Reason != tc.reason):
			t.Errorf("otherwise %q, %d rules: page is %v %v; want %s", tc.otherwise, len(tc.rules), ev.Type, rej, tc.reason)
		}
	}
	// The issue's own example, on a format of a company's own: nested user
	// id, epoch-ms time, amount as a string.
	own := &schemas.Mapping{
		Types: rules, Otherwise: "content",
		Fields: schemas.MappedFields{EventID: []string{"id"}, UserID: []string{"user.id"}, Time: []string{"at"},
			Amount: []string{"order.amount"}, DefaultCurrency: "USD", Kind: []string{"page.section"}},
	}
	for _, tc := range []struct {
		value string
		want  schemas.Event
	}{
		{`{"id":"x-1","user":{"id":"c-7"},"event":"Purchase","at":1795329000000,"order":{"amount":"19.99"}}`,
			schemas.Event{ID: "x-1", UserID: "c-7", Type: schemas.Purchase, Time: 1795329000000, Amount: 19_990_000}},
		{`{"id":"x-2","user":{"id":"c-7"},"event":"Signed In","at":1795329000001}`,
			schemas.Event{ID: "x-2", UserID: "c-7", Type: schemas.Login, Time: 1795329000001}},
		{`{"id":"x-3","user":{"id":"c-7"},"event":"Viewed","at":1795329000002,"page":{"section":"docs"}}`,
			schemas.Event{ID: "x-3", UserID: "c-7", Type: schemas.Content, Time: 1795329000002, Kind: "docs"}},
	} {
		ev, rej := mapped(t, schemas.DecoderConfig{Mapping: own}, "c-7", tc.value)
		if rej != nil || ev != tc.want {
			t.Errorf("%s: got %+v %v, want %+v", tc.value, ev, rej, tc.want)
		}
	}
}

// TestMappingConfigErrors: a wrong mapping is refused before anything
// runs, naming the field as a rules file spells it.
func TestMappingConfigErrors(t *testing.T) {
	ok := schemas.MappedFields{EventID: []string{"messageId"}, UserID: []string{"userId"}, Time: []string{"timestamp"},
		Amount: []string{"properties.revenue"}, Currency: []string{"properties.currency"}}
	for _, tc := range []struct {
		m    schemas.Mapping
		want string
	}{
		{schemas.Mapping{Preset: "mixpanel"}, `inputs.preset "mixpanel" is not a preset; want rudderstack or segment`},
		{schemas.Mapping{Preset: "segment", Otherwise: "drop"}, `inputs.otherwise "drop": want content, ignore or unmapped`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "refund", When: `event == "x"`}}}, `inputs.types[0].type "refund": want login, purchase, content or ignore`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{When: `event == "x"`}}}, `inputs.types[0].type is missing`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login"}}}, `inputs.types[0].when "": is empty`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login", When: `type = "identify"`}}}, `inputs.types[0].when "type = \"identify\"": '=' at column 6: want == or !=`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login", When: `type == 'identify'`}}}, `' at column 9: write strings in double quotes`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login", When: `event in ("a", "b"`}}}, `unexpected end of condition at column 19; want , or )`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login", When: `(type == "identify"`}}}, `want ) to close the ( at column 1`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login", When: `type == "identify" event == "x"`}}}, `unexpected "event" at column 20; want and, or, or the end`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login", When: `type == identify`}}}, `want a string in double quotes after ==`},
		{schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login", When: strings.Repeat("(", 40) + `a == "b"` + strings.Repeat(")", 40)}}}, `more than 32 deep`},
		{schemas.Mapping{Types: []schemas.TypeRule{{Type: "purchase", When: `event == "Order Completed"`}}, Fields: schemas.MappedFields{UserID: ok.UserID, Time: ok.Time}}, `inputs.fields.event_id is missing`},
		{schemas.Mapping{Types: []schemas.TypeRule{{Type: "login", When: `type == "identify"`}}, Fields: schemas.MappedFields{EventID: ok.EventID, Time: ok.Time}}, `inputs.fields.user_id is missing`},
		{schemas.Mapping{Types: []schemas.TypeRule{{Type: "purchase", When: `event == "Order Completed"`}}, Fields: schemas.MappedFields{EventID: ok.EventID, UserID: ok.UserID, Time: ok.Time}}, `inputs.fields.amount is missing`},
		{schemas.Mapping{Types: []schemas.TypeRule{{Type: "purchase", When: `event == "Order Completed"`}}, Fields: schemas.MappedFields{EventID: ok.EventID, UserID: ok.UserID, Time: ok.Time, Amount: ok.Amount}}, `inputs.fields.currency is missing and so is inputs.fields.default_currency`},
		{schemas.Mapping{Preset: "segment", Fields: schemas.MappedFields{DefaultCurrency: "usd"}}, `inputs.fields.default_currency "usd" is not three upper-case letters`},
		{schemas.Mapping{Preset: "segment", Fields: schemas.MappedFields{Amount: []string{"properties..revenue"}}}, `inputs.fields.amount[0] "properties..revenue": has an empty name`},
		{schemas.Mapping{Fields: ok}, `inputs.types is empty and inputs.otherwise is unmapped, so no record would map`},
	} {
		_, err := tc.m.Resolve()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %s", tc.m, err, tc.want)
		}
		cfgErr := schemas.DecoderConfig{Mapping: &tc.m}.Validate()
		if cfgErr == nil || !strings.Contains(cfgErr.Error(), "schemas: DecoderConfig.Mapping: inputs.") || !strings.Contains(cfgErr.Error(), tc.want) {
			t.Errorf("Validate: %v, want one containing %s", cfgErr, tc.want)
		}
	}
}

// TestMappingResolveCanonical: a preset and the same mapping written out
// resolve alike (so they hash alike), whatever the spacing and
// parentheses of its conditions; a different condition does not.
func TestMappingResolveCanonical(t *testing.T) {
	seg, _ := schemas.Preset("segment")
	a, err := schemas.Mapping{Preset: "segment"}.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	spelled := seg
	spelled.Types = []schemas.TypeRule{
		{Type: "purchase", When: `(type=="track")and(event=="Order Completed")`},
		{Type: "login", When: `type == "identify"  or  (type == "track" and event == "Signed In")`},
		{Type: "content", When: "type in (\"track\",\"page\",\n \"screen\")"},
	}
	b, err := spelled.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the preset resolves to\n%+v\nthe same written out to\n%+v", a, b)
	}
	if a.Preset != "" || a.Types[1].When != `type == "identify" or type == "track" and event == "Signed In"` {
		t.Errorf("resolved: %+v", a)
	}
	other := seg
	other.Types = []schemas.TypeRule{{Type: "login", When: `(type == "identify" or type == "track") and event == "Signed In"`}}
	c, _ := other.Resolve()
	if c.Types[0].When != `(type == "identify" or type == "track") and event == "Signed In"` {
		t.Errorf("parentheses that change the meaning are kept: %q", c.Types[0].When)
	}
	// The canonical form parses back to itself.
	for _, w := range []string{
		`not (a == "x" or b != "y") and c not in ("1", "2")`,
		`a == "x" or (b == "y" or c == "z")`,
		`not not a == "\"quoted\" \u00e9"`,
	} {
		once, err := (schemas.Mapping{Preset: "segment", Types: []schemas.TypeRule{{Type: "login", When: w}}}).Resolve()
		if err != nil {
			t.Fatalf("%s: %v", w, err)
		}
		twice, err := once.Resolve()
		if err != nil || twice.Types[0].When != once.Types[0].When {
			t.Errorf("%s: canonical %q, then %q (%v)", w, once.Types[0].When, twice.Types[0].When, err)
		}
	}
}

// TestMappingConditions: what each operator holds for, on present,
// missing and non-string fields.
func TestMappingConditions(t *testing.T) {
	rec := `{"messageId":"m","userId":"u","timestamp":0,"event":"Order Completed","n":5,"p":{"q":"r"}}`
	for _, tc := range []struct {
		when string
		want bool
	}{
		{`event == "Order Completed"`, true},
		{`event == "order completed"`, false}, // byte for byte
		{`event != "Order Completed"`, false},
		{`missing == "x"`, false},
		{`missing != "x"`, true},
		{`n == "5"`, false}, // a number is not a string
		{`n != "5"`, true},
		{`event in ("Purchase", "Order Completed")`, true},
		{`event not in ("Purchase", "Order Completed")`, false},
		{`missing not in ("x")`, true},
		{`p.q == "r"`, true},
		{`p.q.s == "r"`, false},
		{`not event == "x" and (p.q == "r" or missing == "y")`, true},
		{`event == "x" or event == "y" and p.q == "r"`, false}, // and binds tighter
	} {
		m := &schemas.Mapping{Types: []schemas.TypeRule{{Type: "login", When: tc.when}},
			Fields: schemas.MappedFields{EventID: []string{"messageId"}, UserID: []string{"userId"}, Time: []string{"timestamp"}}}
		_, rej := mapped(t, schemas.DecoderConfig{Mapping: m}, "u", rec)
		if got := rej == nil; got != tc.want {
			t.Errorf("%s: %v (%v), want %v", tc.when, got, rej, tc.want)
		}
	}
}

// TestMappedDecodeAllocs: a mapped record costs the allocations of a
// native one (the one string that holds the event's text), no more.
func TestMappedDecodeAllocs(t *testing.T) {
	native := schemas.NewDecoder(schemas.DecoderConfig{})
	nKey := []byte("u-000042")
	seg := schemas.NewDecoder(schemas.DecoderConfig{Mapping: preset("segment")})
	// Keys longer than the 32 bytes a string conversion may keep on the
	// stack: the duplicate check compares them where they are.
	longKeys := []byte(`{"type":"identify","userId":"AiUGstSDIg","messageId":"m","timestamp":"2026-01-02T00:00:00Z",` +
		strings.Repeat(`"`+strings.Repeat("k", 60)+`":0,`, 100) + `"properties":{"revenue":1}}`)
	for name, f := range map[string]func(){
		"native purchase":        func() { native.Decode(nKey, benchEvent) },
		"segment track":          func() { seg.Decode(segBenchKey, segBenchTrack) },
		"segment order":          func() { seg.Decode(segBenchKey, segBenchOrder) },
		"segment, 100 long keys": func() { seg.Decode(segBenchKey, longKeys) },
	} {
		f()
		if n := testing.AllocsPerRun(200, f); n > 1 {
			t.Errorf("%s: %v allocations per record; want at most 1", name, n)
		}
	}
	if _, err := seg.Decode(segBenchKey, segBenchTrack); err != nil {
		t.Fatal(err)
	}
	if ev, err := seg.Decode(segBenchKey, segBenchOrder); err != nil || ev.Type != schemas.Purchase {
		t.Fatal(ev, err)
	}
}

// TestMappingReasonBound: a record whose tested fields are huge still
// gets a reason of at most MaxReasonBytes.
func TestMappingReasonBound(t *testing.T) {
	m := &schemas.Mapping{Preset: "segment", Otherwise: "unmapped", Types: []schemas.TypeRule{
		{Type: "login", When: `a == "x" or b == "x" or c == "x" or d == "x" or e == "x" or f == "x"`}}}
	long := strings.Repeat("é", 5000)
	v := `{"a":"` + long + `","b":"` + long + `","c":[1],"d":"` + long + `","e":"` + long + `","f":"` + long + `"}`
	_, rej := mapped(t, schemas.DecoderConfig{Mapping: m}, "u", v)
	if rej == nil || rej.Reason != schemas.ReasonUnmapped {
		t.Fatalf("%v", rej)
	}
	if !strings.HasPrefix(rej.Error(), `matches none of the 1 rules of inputs.types (a "éé`) {
		t.Errorf("reason: %s", rej.Error())
	}
}

// TestMappingDuplicateFields: with a mapping, a path it reads (a field's
// or a rule's) that appears twice at any of its levels makes the record
// ambiguous, as readFields do a native one: dead-lettered naming the
// path, before the rules judge the type. A field nothing reads may
// repeat, and so may a read name in an object the mapping does not read.
func TestMappingDuplicateFields(t *testing.T) {
	seg := schemas.DecoderConfig{Mapping: preset("segment")}
	for _, tc := range []struct{ name, val, field string }{
		{"the type a rule tests, twice", `{"type":"group","type":"track","event":"Order Completed","userId":"u","messageId":"m","timestamp":"2026-01-02T00:00:00Z"}`, "type"},
		{"the user id twice", `{"type":"identify","userId":"u","userId":"v","messageId":"m","timestamp":"2026-01-02T00:00:00Z"}`, "userId"},
		{"the fallback user id twice", `{"type":"identify","anonymousId":"u","anonymousId":"v","messageId":"m","timestamp":"2026-01-02T00:00:00Z"}`, "anonymousId"},
		{"the time twice, the second in 9999", `{"type":"identify","userId":"u","messageId":"m","timestamp":"2026-01-02T00:00:00Z","timestamp":"9999-12-31T23:59:59Z"}`, "timestamp"},
		{"a nested amount twice", `{"type":"track","event":"Order Completed","userId":"u","messageId":"m","timestamp":"2026-01-02T00:00:00Z","properties":{"revenue":1,"currency":"USD","revenue":1000000}}`, "properties.revenue"},
		{"the object that holds the amount, twice", `{"type":"track","event":"Order Completed","userId":"u","messageId":"m","timestamp":"2026-01-02T00:00:00Z","properties":{"revenue":1,"currency":"USD"},"properties":{"revenue":1000000}}`, "properties"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, rej := mapped(t, seg, "u", tc.val)
			if rej == nil || rej.Reason != schemas.ReasonDuplicate || rej.Field != tc.field {
				t.Errorf("%+v, %v; want %s naming %q", ev, rej, schemas.ReasonDuplicate, tc.field)
			}
		})
	}
	// A path through an array (items.0.sku) is read as fastjson's Get
	// reads it, so a repeat inside that element counts too.
	items := &schemas.Mapping{Otherwise: "content", Fields: schemas.MappedFields{EventID: []string{"id"}, UserID: []string{"user"},
		Time: []string{"at"}, Kind: []string{"items.0.sku"}}}
	if _, rej := mapped(t, schemas.DecoderConfig{Mapping: items}, "u", `{"id":"e","user":"u","at":0,"items":[{"sku":"a","sku":"b"}]}`); rej == nil || rej.Reason != schemas.ReasonDuplicate || rej.Field != "items.0.sku" {
		t.Errorf("a repeat inside an indexed array element: %v; want %s naming items.0.sku", rej, schemas.ReasonDuplicate)
	}
	for name, val := range map[string]string{
		"a field nothing reads, twice":           `{"type":"identify","userId":"u","messageId":"m","timestamp":"2026-01-02T00:00:00Z","context":{},"context":{}}`,
		"a read name in an object nothing reads": `{"type":"identify","userId":"u","messageId":"m","timestamp":"2026-01-02T00:00:00Z","traits":{"userId":"a","userId":"b"}}`,
	} {
		if ev, rej := mapped(t, seg, "u", val); rej != nil || ev.UserID != "u" {
			t.Errorf("%s: %+v, %v; want the event", name, ev, rej)
		}
	}
	if ev, rej := mapped(t, schemas.DecoderConfig{Mapping: items}, "u", `{"id":"e","user":"u","at":0,"items":[{"sku":"a"},{"sku":"b","sku":"c"}]}`); rej != nil || ev.Kind != "a" {
		t.Errorf("a repeat in an array element no path reads: %+v, %v; want the event of kind a", ev, rej)
	}
}
