package httpapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/lifecycle-engine/lifecycle/processor/rules"
	"github.com/lifecycle-engine/lifecycle/schemas"
	"github.com/lifecycle-engine/lifecycle/state/record"
)

// TestUserViewShowsOriginal: a user whose last purchase was converted
// shows it as sent, with the rate and what it came to; a user whose last
// purchase was in the accounting currency has no such field.
func TestUserViewShowsOriginal(t *testing.T) {
	eur, _ := schemas.ParseCurrency("EUR")
	r := record.User{User: rules.User{Stage: rules.Growing, Purchases: 1, Spend: 21_689_150}}
	r.LastOriginal = schemas.Original{Amount: 19_990_000, Currency: eur, Rate: 10_850_000_000}
	b, err := json.Marshal(NewUserView(0, "u-1", r))
	if err != nil {
		t.Fatal(err)
	}
	want := `"last_purchase_original":{"amount":"19.99","currency":"EUR","rate":"1.085","converted":"21.68915"}`
	if !strings.Contains(string(b), want) || !strings.Contains(string(b), `"spend":"21.68915"`) {
		t.Errorf("view %s\nlacks %s", b, want)
	}
	r.LastOriginal = schemas.Original{}
	if b, _ := json.Marshal(NewUserView(0, "u-1", r)); strings.Contains(string(b), "last_purchase_original") {
		t.Errorf("a purchase in the accounting currency shows an original: %s", b)
	}
}
