// Spins forever at the first clock edge with en=1: simulation time never advances.
module counter(input clk, input reset, input up, input en,
               output reg [7:0] count, output at_limit);
  reg spin = 1'b0;
  always @(posedge clk) while (en) spin = ~spin;
  always @(posedge clk) count <= reset ? 8'd0 : count;
  assign at_limit = (count == 8'hFF) || (count == 8'h00);
endmodule
